"""Photo library parts that need no model: tree walk, EXIF, schema, queries, sheets, labelling.

Labelling, merging, rejections and find run on a library whose faces are inserted as rows
(synthetic embeddings), so they are exact and fast; the real pipeline is in
``test_library_real.py``.
"""

from __future__ import annotations

import io
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.errors import (
    IdentityExistsError,
    IdentityNotFoundError,
    InvalidArgumentError,
    StorageError,
)
from faceprint.library import Library, to_jsonable
from faceprint.library.labels import representatives
from faceprint.library.quality import face_quality, face_size
from faceprint.library.queries import date_bound
from faceprint.library.sheets import contact_sheet, slideshow
from faceprint.library.store import DB_NAME, MIGRATIONS, LibraryStore
from faceprint.library.walk import read_exif, walk_tree

DIM = 128


def _jpeg(path: Path, *, exif: Image.Exif | None = None, size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, (120, 80, 40))
    img.save(path, format="JPEG", exif=exif if exif is not None else Image.Exif())
    return path


# --- walking the tree ---------------------------------------------------------------------------


def test_walk_lists_images_and_reports_links_and_other_files(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    outside = _jpeg(tmp_path / "outside.jpg")
    _jpeg(root / "a" / "one.jpg")
    _jpeg(root / "b" / "two.JPEG")
    (root / "b" / "notes.txt").write_text("hi")
    _jpeg(root / ".hidden" / "x.jpg")
    (root / "out.jpg").symlink_to(outside)
    (root / "in.jpg").symlink_to(root / "a" / "one.jpg")
    (root / "a" / "up").symlink_to(root)  # a folder loop
    (root / "loop.jpg").symlink_to(root / "loop.jpg")  # a link to itself
    (root / "dangling.jpg").symlink_to(tmp_path / "missing.jpg")
    listing = walk_tree(root.resolve())
    assert [f.path for f in listing.files] == ["a/one.jpg", "b/two.JPEG"]
    reasons = {p.path: p.reason for p in listing.skipped}
    assert "leaving the library root" in reasons["out.jpg"]
    assert "inside the root" in reasons["in.jpg"]
    assert "loop" in reasons["a/up"]
    assert "loop" in reasons["loop.jpg"]
    assert "broken" in reasons["dangling.jpg"]
    assert "not a photo" in reasons["b/notes.txt"]
    assert not listing.errors


def test_walk_reports_unreadable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "tree"
    _jpeg(root / "locked" / "x.jpg")
    _jpeg(root / "open" / "y.jpg")
    real = os.scandir

    def scandir(path: Path) -> object:  # root ignores chmod, so refuse like the OS would
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr("faceprint.library.walk.os.scandir", scandir)
    listing = walk_tree(root.resolve())
    assert [(p.path, p.reason) for p in listing.errors] == [("locked", "permission denied")]
    assert [f.path for f in listing.files] == ["open/y.jpg"]


def test_read_exif_capture_time_and_orientation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[274] = 6
    exif.get_ifd(0x8769)[36867] = "2019:07:04 18:30:05"
    info = read_exif(_jpeg(tmp_path / "a.jpg", exif=exif))
    assert (info.taken, info.orientation) == ("2019-07-04T18:30:05", 6)
    plain = read_exif(_jpeg(tmp_path / "b.jpg"))
    assert (plain.taken, plain.orientation) == (None, None)
    (tmp_path / "c.jpg").write_bytes(b"not an image")
    assert read_exif(tmp_path / "c.jpg").taken is None


def test_exif_fallback_and_bad_dates(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[306] = "2001:02:03 04:05:06"
    assert read_exif(_jpeg(tmp_path / "a.jpg", exif=exif)).taken == "2001-02-03T04:05:06"
    bad = Image.Exif()
    bad[306] = "0000:00:00 00:00:00"
    bad[274] = 42
    info = read_exif(_jpeg(tmp_path / "b.jpg", exif=bad))
    assert (info.taken, info.orientation) == (None, None)


# --- small parts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "upper", "expected"),
    [
        ("2020", False, "2020"),
        ("2020-05", True, "2020-05\x7f"),
        ("2020-05-01 10:00", False, "2020-05-01T10:00"),
        (None, True, None),
    ],
)
def test_date_bound(value: str | None, upper: bool, expected: str | None) -> None:
    assert date_bound(value, upper=upper) == expected


@pytest.mark.parametrize("value", ["yesterday", "2020/05/01", "20-05-01", "2020-05-01; DROP"])
def test_date_bound_rejects(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match="is not YYYY"):
        date_bound(value, upper=False)


def test_representatives_are_diverse_and_good() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, DIM)).astype(np.float32)
    emb = np.concatenate([np.repeat(base[:1], 6, 0), base[1:2], base[2:3]])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    quality = np.asarray([1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.95, 0.1], np.float32)
    chosen = representatives(emb, quality, k=5)
    assert chosen[0] == 0  # best quality first
    assert 6 in chosen  # the distinct good face
    assert len(chosen) == 2  # duplicates of chosen faces are not added; 7 is low quality
    assert representatives(emb[:0], quality[:0]) == []


def test_quality_grows_with_size_and_sharpness() -> None:
    assert face_size([10, 10, 40, 90]) == 30
    sharp = np.zeros((112, 112), np.uint8)
    sharp[::2] = 255
    buf = io.BytesIO()
    Image.fromarray(sharp).convert("RGB").save(buf, format="JPEG")
    flat = io.BytesIO()
    Image.new("RGB", (112, 112), "grey").save(flat, format="JPEG")
    assert face_quality([0, 0, 120, 120], buf.getvalue()) == pytest.approx(1.0)
    assert face_quality([0, 0, 120, 120], flat.getvalue()) < 0.05
    assert face_quality([0, 0, 30, 30], None) == pytest.approx(0.5)


def test_contact_sheet_grid() -> None:
    thumb = io.BytesIO()
    Image.new("RGB", (112, 112), "red").save(thumb, format="JPEG")
    png = contact_sheet([(thumb.getvalue(), "#1")] * 10 + [(None, "#x"), (b"junk", "bad")])
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    assert img.size == (8 * 116 + 4, 2 * 130 + 4)
    assert img.getpixel((4 + 56, 4 + 56))[0] > 200  # the red tile


def test_slideshow_links_in_order_and_refuses_the_photo_tree(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    a, b = _jpeg(root / "a.jpg"), _jpeg(root / "sub" / "b.jpg")
    links = slideshow([b, a], tmp_path / "show", root=root.resolve())
    assert [p.name for p in links] == ["0001_b.jpg", "0002_a.jpg"]
    assert [os.readlink(p) for p in links] == [str(b), str(a)]
    again = slideshow([a], tmp_path / "show", root=root.resolve())  # replaces old links
    assert sorted(p.name for p in (tmp_path / "show").iterdir()) == [again[0].name]
    with pytest.raises(InvalidArgumentError, match="inside the photo tree"):
        slideshow([a], root / "show", root=root.resolve())
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidArgumentError, match="not empty"):
        slideshow([a], tmp_path / "busy", root=root.resolve())
    assert not (root / "show").exists()


def test_schema_newer_version_refused(tmp_path: Path) -> None:
    store = LibraryStore.open(tmp_path / DB_NAME, create=True)
    store.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    store.close()
    with pytest.raises(StorageError, match="newer than this faceprint"):
        LibraryStore.open(tmp_path / DB_NAME, create=False)
    with pytest.raises(StorageError, match="no photo library"):
        LibraryStore.open(tmp_path / "nope" / DB_NAME, create=False)


# --- labelling on a library with synthetic faces --------------------------------------------------

PEOPLE = {"ann": 4, "bob": 3, "cy": 2}


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _synthetic_library(tmp_path: Path) -> tuple[Library, dict[str, np.ndarray]]:
    """A library with one photo per face; each person's faces are near their own centre."""
    rng = np.random.default_rng(7)
    root = tmp_path / "photos"
    root.mkdir()
    lib = Library.create(tmp_path / "lib", root=root)
    centres = {n: _unit(rng.normal(size=DIM)) for n in PEOPLE}
    rows = []
    for name, count in PEOPLE.items():
        for i in range(count):
            emb = _unit(centres[name] + 0.15 * _unit(rng.normal(size=DIM)))
            rows.append((f"{name}/{i}.jpg", emb, f"2020-0{i + 1}-01T00:00:00"))
    for k, (path, emb, taken) in enumerate(rows):
        _add_face(lib, path, emb, taken, k)
    return lib, centres


def _add_face(lib: Library, path: str, emb: np.ndarray, taken: str, k: int) -> int:
    """A photo with one face, inserted as rows; returns the face id."""
    with lib._store.transaction() as cur:
        pid = cur.execute(
            "INSERT INTO photos (path, size, mtime_ns, sha256, width, height, taken, "
            "scanned_at) VALUES (?, 1, ?, ?, 100, 100, ?, 'now')",
            (path, k, f"h{k}", taken),
        ).lastrowid
        cur.execute(
            "INSERT INTO faces (photo_id, idx, x1, y1, x2, y2, landmarks, score, size, "
            "quality, embedding, thumbnail) VALUES (?, 0, 0, 0, 80, 80, ?, 1, 80, 1, ?, NULL)",
            (pid, np.zeros(10, np.float32).tobytes(), emb.tobytes()),
        )
        return int(cur.lastrowid or 0)


def _cluster_of(lib: Library, prefix: str) -> set[int | None]:
    listing = lib.clusters()
    faces = [f for c in listing.clusters for f in c.faces] + list(listing.unclustered)
    return {f.cluster for f in faces if f.path.startswith(prefix)}


@pytest.fixture
def synth(tmp_path: Path) -> Iterator[Library]:
    lib, _ = _synthetic_library(tmp_path)
    lib.cluster(threshold=0.7)
    yield lib
    lib.close()


def test_cluster_groups_synthetic_people(synth: Library) -> None:
    for name in PEOPLE:
        clusters = _cluster_of(synth, name)
        assert len(clusters) == 1 and None not in clusters
    assert [c.size for c in synth.clusters().clusters] == [4, 3, 2]


def test_label_sticks_and_adds_few_templates(synth: Library) -> None:
    ann = synth.clusters().clusters[0]
    info = synth.label(ann.id, "Ann")
    assert info.name == "Ann" and info.size == 4
    assert info.id == ann.id  # a new person takes the labelled cluster's id
    assert {f.state for f in info.faces} == {"confirmed"}
    assert 1 <= synth.gallery.template_count <= 4
    synth.cluster(threshold=0.7)
    again = synth.person_cluster("Ann")
    assert {f.id for f in again.faces} == {f.id for f in info.faces}
    assert [p.path for p in synth.find("Ann")] == [f"ann/{i}.jpg" for i in range(4)]
    with pytest.raises(InvalidArgumentError, match="use `rename`"):
        synth.label(again.id, "Someone else")


def test_remove_face_is_remembered(synth: Library) -> None:
    ann = synth.label(synth.clusters().clusters[0].id, "Ann")
    victim = ann.faces[0]
    synth.remove_face(victim.id)
    assert synth.face(victim.id).name is None
    synth.cluster(threshold=0.7)
    assert synth.face(victim.id).name is None  # never put back with Ann
    assert victim.path not in [p.path for p in synth.find("Ann")]
    with pytest.raises(InvalidArgumentError, match="no face"):
        synth.remove_face(10_000)


def test_remove_from_unnamed_cluster_keeps_face_out(synth: Library) -> None:
    bob = synth.clusters().clusters[1]
    synth.remove_face(bob.faces[0].id)
    report = synth.cluster(threshold=0.7)
    assert report.excluded == 1
    assert synth.face(bob.faces[0].id).cluster is None
    with pytest.raises(InvalidArgumentError, match="in no cluster"):
        synth.remove_face(bob.faces[0].id)


def test_new_face_joins_named_person_on_recluster(tmp_path: Path) -> None:
    lib, centres = _synthetic_library(tmp_path)
    with lib:
        lib.cluster(threshold=0.7)
        ann = lib.label(lib.clusters().clusters[0].id, "Ann")
        newcomer = _add_face(lib, "new/ann.jpg", _unit(centres["ann"] + 0.01), "2021", 99)
        stranger = _add_face(lib, "new/x.jpg", _unit(np.ones(DIM)), "2021", 100)
        report = lib.cluster(threshold=0.7)
        assert report.fixed == ann.size and report.named == 1
        assert lib.face(newcomer).name == "Ann" and lib.face(newcomer).state == "auto"
        assert lib.face(stranger).cluster is None  # fits nowhere: unclustered
        assert lib.person_cluster("Ann").size == ann.size + 1


def test_merge_rename_forget(synth: Library) -> None:
    listing = synth.clusters().clusters
    a, b, c = listing[0].id, listing[1].id, listing[2].id
    synth.label(a, "Ann")
    merged = synth.merge(c, synth.person_cluster("Ann").id)  # the named one wins
    assert merged.name == "Ann" and merged.size == 6
    synth.label(b, "Bob")
    with pytest.raises(InvalidArgumentError, match="two named people"):
        synth.merge(merged.id, synth.person_cluster("Bob").id)
    with pytest.raises(IdentityExistsError):
        synth.rename("Ann", "Bob")
    renamed = synth.rename("Ann", "Anne")
    assert renamed.name == "Anne" and "Anne" in synth.gallery and "Ann" not in synth.gallery
    assert len(synth.find("Anne")) == 6
    freed = synth.forget("Anne")
    assert freed == 6
    assert "Anne" not in synth.gallery
    assert synth.status().people == ("Bob",)
    with pytest.raises(IdentityNotFoundError, match="no person named 'Anne'"):
        synth.find("Anne")
    with pytest.raises(IdentityNotFoundError):
        synth.forget("Anne")


def test_find_with_without_and_dates(synth: Library) -> None:
    listing = synth.clusters().clusters
    synth.label(listing[0].id, "Ann")
    synth.label(listing[1].id, "Bob")
    assert [p.taken for p in synth.find("Ann")] == [f"2020-0{i}-01T00:00:00" for i in range(1, 5)]
    assert [p.path for p in synth.find("Ann", date_from="2020-02", date_to="2020-03")] == [
        "ann/1.jpg",
        "ann/2.jpg",
    ]
    assert synth.find("Ann", with_=["Bob"]) == []  # never together
    assert len(synth.find("Ann", without=["Bob"])) == 4
    data = to_jsonable(synth.find("Bob"))
    assert data[0]["path"] == "bob/0.jpg" and data[0]["faces"][0]["name"] == "Bob"


def test_library_refuses_tree_around_it_and_second_root(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="must not be inside the photo tree"):
        Library.create(tmp_path / "photos" / "lib", root=tmp_path / "photos").close()
    (tmp_path / "other").mkdir()
    (tmp_path / "photos2").mkdir()
    with (
        Library.create(tmp_path / "lib2", root=tmp_path / "photos2") as lib,
        pytest.raises(InvalidArgumentError, match="this library indexes"),
    ):
        lib.scan(tmp_path / "other")
    with pytest.raises(StorageError, match="exists here already"):
        Library.create(tmp_path / "lib2")


def test_library_is_movable_and_keeps_gallery(tmp_path: Path) -> None:
    lib, _ = _synthetic_library(tmp_path)
    lib.cluster(threshold=0.7)
    lib.label(lib.clusters().clusters[0].id, "Ann")
    lib.close()
    (tmp_path / "lib").rename(tmp_path / "moved")
    with Library.open(tmp_path / "moved") as again:
        assert "Ann" in again.gallery
        assert again.gallery.directory == tmp_path / "moved" / "people"


def test_sqlite_file_has_no_photo_bytes_and_nothing_in_tree(tmp_path: Path) -> None:
    lib, _ = _synthetic_library(tmp_path)
    lib.close()
    assert list((tmp_path / "photos").iterdir()) == []
    conn = sqlite3.connect(tmp_path / "lib" / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_existing_gallery_of_another_pack_is_refused(tmp_path: Path) -> None:
    from faceprint.errors import PackMismatchError
    from faceprint.gallery import Gallery

    Gallery.create(tmp_path / "people", "dlib").close()
    with pytest.raises(PackMismatchError, match="holds embeddings of pack 'dlib'"):
        Library.create(tmp_path / "lib", gallery=tmp_path / "people", pack="yunet-mobilefacenet")
    with Library.create(tmp_path / "lib", gallery=tmp_path / "people") as lib:
        assert lib.pack == "dlib" and lib.gallery.directory == tmp_path / "people"
    with Library.open(tmp_path / "lib") as lib:  # an outside gallery is kept by absolute path
        assert lib.gallery.directory == tmp_path / "people"


def test_facade_exports_exactly_the_public_names() -> None:
    import faceprint.library as api

    modules = {
        "browse", "clustering", "labels", "library", "quality", "queries", "scan", "sheets", "store",
        "types", "walk",
    }  # fmt: skip
    public = {n for n in dir(api) if not n.startswith("_")}
    assert set(api.__all__) == public - modules


def test_second_concurrent_scan_is_refused(synth: Library) -> None:
    with synth._scanning, pytest.raises(InvalidArgumentError, match="running already"):
        synth.scan()  # as if another thread were scanning
    report = synth.scan(workers=0)  # the synthetic rows have no files: all deleted
    assert report.deleted == sum(PEOPLE.values()) and synth.status().photos == 0
