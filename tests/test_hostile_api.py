"""The hostile-input corpus through the Python API: images, names, archives, gallery files, packs.

Every row gives its expected error class with one clear line (or a correct result), and a gallery
that a bad input reaches is byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from _gallery_fakes import fake_analyzer
from faceprint.errors import FaceprintError, GalleryError, ImageError
from faceprint.gallery import Gallery
from faceprint.imageio import load_image
from faceprint.packs.manifest import load_pack_path
from faceprint.pipeline import FaceAnalyzer
from hostile.checks import copy_gallery, expect, one_line, runnable, tree_digest
from hostile.corpus import (
    ARCHIVE_CASES,
    IMAGE_CASES,
    NAME_CASES,
    PACK_CASES,
    STORE_CASES,
    Case,
    unit_rows,
)


# --- images -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", runnable(IMAGE_CASES))
def test_image_from_path(case: Case, tmp_path: Path) -> None:
    path = case.make(tmp_path)
    expect(case, lambda: load_image(path))


@pytest.mark.parametrize("case", runnable(c for c in IMAGE_CASES if c.error is not None))
def test_bad_image_changes_no_gallery(case: Case, tmp_path: Path, hostile_gallery: Path) -> None:
    path = case.make(tmp_path)
    before = tree_digest(hostile_gallery)
    with Gallery.open(hostile_gallery) as g:
        expect(case, lambda: g.enroll("dave", [path], fake_analyzer()))
        assert "dave" not in g
    assert tree_digest(hostile_gallery) == before


def test_image_bytes_give_the_same_outcome_as_files(tmp_path: Path) -> None:
    """Every regular-file row decoded from memory (the HTTP upload path) ends the same way (the
    message names ``<N bytes>`` instead of the file, so only the class is compared)."""
    checked = 0
    for i, case in enumerate(IMAGE_CASES):
        folder = tmp_path / str(i)
        folder.mkdir()
        path = case.make(folder)
        if case.skip or not _small_regular_file(path):
            continue
        expect(replace(case, match=""), lambda p=path: load_image(p.read_bytes()))
        checked += 1
    assert checked >= 35


def _small_regular_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size < 2**25
    except OSError:  # a name too long to stat
        return False


def test_bad_image_name_in_message_is_printable(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    with open(raw, "wb") as f:
        f.write(b"not an image")
    with pytest.raises(ImageError) as info:
        load_image(os.fsdecode(raw))
    one_line(str(info.value))
    assert "caf\\xe9.jpg" in str(info.value) and info.value.source.endswith("caf\\xe9.jpg")


# --- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", runnable(NAME_CASES))
def test_name_through_add_rename_and_enroll(
    case: Case, tmp_path: Path, hostile_gallery: Path
) -> None:
    name = case.make(tmp_path)
    image = tmp_path / "face.png"
    from _gallery_fakes import person_image, write_image

    write_image(image, person_image("red"))
    before = tree_digest(hostile_gallery)
    with Gallery.open(hostile_gallery) as g:
        expect(case, lambda: g.add_embeddings([name], unit_rows(1, seed=9))[0] and _stored(g))
        if case.error is not None:
            expect(case, lambda: g.rename("alice", name))
            expect(case, lambda: g.enroll(name, [image], fake_analyzer()))
            assert sorted(i.name for i in g.identities()) == ["alice", "bob", "carol"]
    if case.error is not None:
        assert tree_digest(hostile_gallery) == before
        return
    with Gallery.open(hostile_gallery) as g:  # stored verbatim, found again after reopening
        assert name.strip() in g and g.get(name.strip()).name == name.strip()
        assert g.identify(unit_rows(1, seed=9), threshold=0.99)[0].name == name.strip()


def _stored(g: Gallery) -> str:
    """The one name that is not one of the prepared identities."""
    (name,) = [i.name for i in g.identities() if i.name not in ("alice", "bob", "carol")]
    return name


# --- gallery archives -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", runnable(ARCHIVE_CASES))
def test_archive_import(case: Case, tmp_path: Path, hostile_gallery: Path) -> None:
    path = case.make(tmp_path)
    before = tree_digest(hostile_gallery)
    with Gallery.open(hostile_gallery) as g:
        expect(case, lambda: g.import_from(path))
    if case.error is not None:
        assert tree_digest(hostile_gallery) == before
    with Gallery.open(hostile_gallery) as g:  # opens, and holds what it should
        expected = 3 if case.error is not None else 5
        assert len(g) == expected == len({i.name for i in g.identities()})
        assert g.template_count == len(g.index) == expected


def test_archive_existing_name_needs_append(tmp_path: Path, hostile_gallery: Path) -> None:
    with Gallery.open(hostile_gallery) as g:
        path = g.export_to(tmp_path / "self.zip")
        before = tree_digest(hostile_gallery)
        with pytest.raises(GalleryError, match="exists already"):
            g.import_from(path)
        assert tree_digest(hostile_gallery) == before
        assert g.import_from(path, append=True) == 3
        assert [i.template_count for i in g.identities()] == [2, 2, 2]


def test_index_of_another_gallery_is_rebuilt(tmp_path: Path, hostile_template: Path) -> None:
    a = copy_gallery(hostile_template, tmp_path / "a")
    b = tmp_path / "b"
    with Gallery.create(b, "dlib") as g:
        g.add_embeddings(["x", "y", "z"], unit_rows(3, seed=77))
    import shutil

    shutil.rmtree(b / "index")
    shutil.copytree(a / "index", b / "index")
    with Gallery.open(b) as g:
        assert g.identify(unit_rows(3, seed=77)[1], threshold=0.99)[0].name == "y"
        assert "alice" not in {m.name for m in g.search(unit_rows(3, seed=5)[0], top_k=3)[0]}


# --- the gallery's own files ----------------------------------------------------------------------
@pytest.mark.parametrize("case", runnable(STORE_CASES))
def test_damaged_or_foreign_gallery_file(case: Case, tmp_path: Path) -> None:
    """Defect 11: an empty, foreign or damaged gallery.sqlite is refused and left as it was."""
    folder = case.make(tmp_path)
    before = tree_digest(folder)
    expect(case, lambda: Gallery.open(folder).close())
    assert tree_digest(folder) == before
    if case.id != "newer-schema":
        assert "upgrade faceprint" not in str(_error(folder))


def _error(folder: Path) -> FaceprintError:
    try:
        Gallery.open(folder).close()
    except FaceprintError as exc:
        return exc
    raise AssertionError("opened")


# --- model packs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", runnable(PACK_CASES))
def test_pack(case: Case, tmp_path: Path) -> None:
    path = case.make(tmp_path)

    def load() -> int:
        fa = FaceAnalyzer(load_pack_path(path))
        return len(fa.analyze(np.zeros((64, 64, 3), np.uint8)))

    expect(case, load)
