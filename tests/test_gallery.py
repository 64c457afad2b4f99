"""Gallery unit tests on synthetic embeddings and a weightless fake analyzer (no data needed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

import faceprint.gallery as gallery_api
from _gallery_fakes import (
    DIM,
    PEOPLE,
    face_image,
    fake_analyzer,
    make_folders,
    person_image,
    write_image,
)
from faceprint.errors import (
    AmbiguousFaceError,
    GalleryError,
    IdentityExistsError,
    IdentityNotFoundError,
    ImageError,
    NoFaceError,
    PackMismatchError,
)
from faceprint.gallery import Gallery
from faceprint.gallery.scoring import TemplateMap, reduce_max
from faceprint.gallery.store import SCHEMA_VERSION

RNG = np.random.default_rng(12345)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def synthetic(n_people: int, per_person: int, noise: float = 0.3, seed: int = 0):
    """(names per row, templates, identity centres): templates are noisy copies of centres."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(n_people, DIM)))
    idx = np.repeat(np.arange(n_people), per_person)
    templates = unit(centres[idx] + noise * rng.normal(size=(len(idx), DIM)) / np.sqrt(DIM))
    names = [f"person{i:05d}" for i in idx]
    return names, templates, centres


@pytest.fixture
def gdir(tmp_path: Path) -> Path:
    return tmp_path / "gallery"


@pytest.fixture
def gal(gdir: Path):
    with Gallery.create(gdir, "dlib") as g:
        yield g


def gallery_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_facade_all_matches_public_names() -> None:
    public = {n for n in dir(gallery_api) if not n.startswith("_")}
    modules = {
        "enroll",
        "gallery",
        "index",
        "live",
        "migrate",
        "portable",
        "scoring",
        "settings",
        "store",
        "types",
    }
    assert set(gallery_api.__all__) == public - modules


def test_create_writes_wal_sqlite_with_schema_version(gal: Gallery, gdir: Path) -> None:
    conn = sqlite3.connect(gdir / "gallery.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"identities", "templates", "settings"} <= tables
    assert gal.pack == "dlib" and gal.dim == DIM and len(gal) == 0
    assert gal.settings.index_backend == "exact"


def test_create_refuses_existing_and_open_refuses_missing(
    gal: Gallery, gdir: Path, tmp_path: Path
) -> None:
    with pytest.raises(GalleryError, match="exists already"):
        Gallery.create(gdir, "dlib")
    with pytest.raises(GalleryError, match="no gallery database"):
        Gallery.open(tmp_path / "nowhere")


def test_open_refuses_other_schema_version(gal: Gallery, gdir: Path) -> None:
    gal.close()
    conn = sqlite3.connect(gdir / "gallery.sqlite")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(GalleryError, match="schema version 99"):
        Gallery.open(gdir)


def test_identify_known_and_unknown(gal: Gallery) -> None:
    names, templates, centres = synthetic(50, 3)
    gal.add_embeddings(names, templates)
    strangers = unit(RNG.normal(size=(5, DIM)))
    probes = unit(centres[[3, 17, 42]] + 0.2 * RNG.normal(size=(3, DIM)) / np.sqrt(DIM))
    results = gal.identify(np.vstack([probes, strangers]), threshold=0.6, top_k=3)
    assert [r.name for r in results[:3]] == ["person00003", "person00017", "person00042"]
    assert [r.label for r in results[3:]] == ["unknown"] * 5, [
        (r.similarity, r.matches[:1]) for r in results
    ]
    assert all(len(r.matches) == 3 for r in results)
    assert results[0].similarity == results[0].matches[0].similarity > 0.6


@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_top_k_identities_equal_brute_force(gdir: Path, aggregate: str) -> None:
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 6, size=40)
    idents = np.repeat(np.arange(40), counts)
    templates = unit(rng.normal(size=(len(idents), DIM)))
    queries = unit(rng.normal(size=(7, DIM)))
    with Gallery.create(gdir, "dlib") as g:
        g.add_embeddings([f"p{i:02d}" for i in idents], templates)
        got = g.search(queries, top_k=4, aggregate=aggregate, thumbnails=False)  # type: ignore[arg-type]
    sims = queries @ templates.T
    for q, matches in enumerate(got):
        per = [getattr(sims[q, idents == i], aggregate)() for i in range(40)]
        want = np.argsort(per)[::-1][:4]
        assert [m.name for m in matches] == [f"p{i:02d}" for i in want]
        np.testing.assert_allclose(
            [m.similarity for m in matches], np.asarray(per)[want], atol=1e-5
        )


def test_reduce_max_keeps_first_occurrence_and_pads() -> None:
    mapping = TemplateMap(np.array([10, 11, 12, 13]), np.array([1, 1, 2, 3]))
    scores = np.array([[0.9, 0.8, 0.7, -np.inf]], np.float32)
    ids = np.array([[11, 10, 12, -1]])
    out = reduce_max(scores, ids, mapping, top_k=3)
    assert out.identity_ids.tolist() == [[1, 2, -1]]
    assert out.template_ids.tolist() == [[11, 12, -1]]
    np.testing.assert_allclose(out.similarities[0, :2], [0.9, 0.7])


def test_empty_gallery_identifies_unknown(gal: Gallery) -> None:
    (result,) = gal.identify(unit(RNG.normal(size=DIM)), threshold=0.5)
    assert result.name is None and result.matches == () and result.similarity == float("-inf")


def test_bulk_add_refuses_existing_names_and_changes_nothing(gal: Gallery) -> None:
    names, templates, _ = synthetic(5, 2)
    gal.add_embeddings(names, templates)
    with pytest.raises(IdentityExistsError, match="append=True"):
        gal.add_embeddings(["new", names[0]], templates[:2])
    assert "new" not in gal and gal.template_count == 10
    gal.add_embeddings(["new", names[0]], templates[:2], append=True)
    assert gal.get(names[0]).template_count == 3 and gal.template_count == 12


def test_pack_and_dimension_mismatch(gal: Gallery) -> None:
    with pytest.raises(PackMismatchError, match="pack 'other'"):
        gal.add_embeddings(["a"], unit(RNG.normal(size=(1, DIM))), pack="other")
    with pytest.raises(PackMismatchError, match=r"\(N, 128\)"):
        gal.add_embeddings(["a"], unit(RNG.normal(size=(1, 512))))
    with pytest.raises(PackMismatchError, match="128-d"):
        gal.identify(unit(RNG.normal(size=512)))
    other = fake_analyzer()
    object.__setattr__(other, "pack", other.pack.__class__(**{**other.pack.__dict__, "name": "x"}))
    with pytest.raises(PackMismatchError, match="pack 'dlib'"):
        gal.enroll("red", [person_image("red")], other)
    assert len(gal) == 0


def test_settings_threshold_persists(gal: Gallery, gdir: Path) -> None:
    assert gal.settings.threshold is None
    gal.settings.set_threshold(0.91, source="test calibration")
    gal.close()
    with Gallery.open(gdir) as g:
        assert g.threshold == pytest.approx(0.91)
        assert g.settings.threshold_source == "test calibration"
        with pytest.raises(ValueError, match=r"\[-1, 1\]"):
            g.settings.set_threshold(1.5, source="x")
        g.settings.set_threshold(None, source="")
        assert g.settings.threshold is None


# --- enrolment from images ---------------------------------------------------------------------
def test_enroll_and_identify_faces_of_an_image(gal: Gallery) -> None:
    fa = fake_analyzer()
    gal.enroll("red", [person_image("red"), person_image("red", 80)], fa, metadata={"team": "a"})
    gal.enroll("green", [person_image("green")], fa)
    assert [(i.name, i.template_count) for i in gal.identities()] == [("green", 1), ("red", 2)]
    assert gal.get("red").metadata == {"team": "a"}
    group = face_image(
        [(PEOPLE["green"], 10, 10, 50), (PEOPLE["red"], 100, 20, 70), (PEOPLE["blue"], 200, 30, 60)]
    )
    found = gal.identify(fa.analyze(group), threshold=0.9)
    assert [f.label for f in found] == ["green", "red", "unknown"]
    assert found[0].face is not None and found[0].face.box.tolist() == [10, 10, 60, 60]
    template = gal.templates("red")[0]
    thumb = gal.thumbnail(template.id)
    assert thumb is not None and thumb[:2] == b"\xff\xd8" and template.box is not None


@pytest.mark.parametrize(
    ("image", "face", "error"),
    [
        (face_image([]), "largest", NoFaceError),
        (
            face_image([(PEOPLE["red"], 10, 10, 60), (PEOPLE["blue"], 100, 10, 58)]),
            "largest",
            AmbiguousFaceError,
        ),
        (
            face_image([(PEOPLE["red"], 10, 10, 60), (PEOPLE["blue"], 100, 10, 30)]),
            "only",
            AmbiguousFaceError,
        ),
        (b"not an image at all", "largest", ImageError),
    ],
)
def test_enroll_errors_change_nothing(gal: Gallery, gdir: Path, image, face, error) -> None:
    fa = fake_analyzer()
    gal.enroll("green", [person_image("green")], fa)
    before = gallery_bytes(gdir / "gallery.sqlite")
    with pytest.raises(error):
        gal.enroll("red", [person_image("red"), image], fa, face=face)
    assert "red" not in gal and gal.template_count == 1
    assert gallery_bytes(gdir / "gallery.sqlite") == before


def test_enroll_face_choice_index_and_clear_largest(gal: Gallery) -> None:
    fa = fake_analyzer()
    two = face_image([(PEOPLE["red"], 10, 10, 60), (PEOPLE["blue"], 100, 10, 58)])
    gal.enroll("blue", [two], fa, face=1)
    gal.enroll(
        "red", [face_image([(PEOPLE["red"], 10, 10, 80), (PEOPLE["blue"], 150, 10, 30)])], fa
    )
    assert gal.identify(fa.analyze(person_image("blue")), threshold=0.9)[0].name == "blue"
    assert gal.identify(fa.analyze(person_image("red")), threshold=0.9)[0].name == "red"


def test_enroll_existing_name_needs_append(gal: Gallery) -> None:
    fa = fake_analyzer()
    gal.enroll("red", [person_image("red")], fa)
    with pytest.raises(IdentityExistsError, match="append"):
        gal.enroll("red", [person_image("red", 70)], fa)
    assert gal.get("red").template_count == 1
    gal.enroll("red", [person_image("red", 70)], fa, append=True)
    assert gal.get("red").template_count == 2


def test_enroll_folders_reports_every_file(gal: Gallery, tmp_path: Path) -> None:
    root = make_folders(tmp_path / "people")
    write_image(root / "red" / "empty.png", face_image([]))
    (root / "green" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    write_image(
        root / "blue" / "pair.png",
        face_image([(PEOPLE["blue"], 10, 10, 60), (PEOPLE["red"], 100, 10, 60)]),
    )
    report = gal.enroll_folders(root, fake_analyzer())
    counts = report.counts()
    assert counts == {"enrolled": 10, "no_face": 1, "unreadable": 1, "ambiguous": 1}
    assert {i.name: i.template_count for i in gal.identities()} == {n: 2 for n in PEOPLE}
    again = gal.enroll_folders(root, fake_analyzer())
    assert set(again.counts()) == {"exists"}
    appended = gal.enroll_folders(root, fake_analyzer(), append=True)
    assert appended.counts()["duplicate"] == 10 and gal.template_count == 10


# --- changing identities ---------------------------------------------------------------------
def test_rename(gal: Gallery) -> None:
    names, templates, centres = synthetic(3, 2)
    gal.add_embeddings(names, templates)
    gal.rename("person00001", "Alice")
    assert gal.identify(centres[1], threshold=0.5)[0].name == "Alice"
    with pytest.raises(IdentityExistsError):
        gal.rename("Alice", "person00002")
    with pytest.raises(IdentityNotFoundError):
        gal.rename("nobody", "x")


@pytest.mark.parametrize("vacuum", [False, True])
def test_remove_leaves_no_bytes_in_any_file(gal: Gallery, gdir: Path, vacuum: bool) -> None:
    names, templates, centres = synthetic(20, 3)
    thumbs = [RNG.bytes(3000) for _ in names]
    gal.add_embeddings(names, templates, thumbnails=thumbs)
    gal.save_index()
    victim = [i for i, n in enumerate(names) if n == "person00007"]
    kept = victim[-1] + 1
    secrets = [templates[i].astype("<f4").tobytes() for i in victim] + [thumbs[i] for i in victim]
    blob = gallery_bytes(gdir)
    assert all(s in blob for s in secrets)  # the check below can fail
    assert gal.remove("person00007", vacuum=vacuum) == 3
    blob = gallery_bytes(gdir)
    assert not any(s in blob for s in secrets)
    assert thumbs[kept] in blob
    assert "person00007" not in gal and gal.template_count == 57
    assert gal.identify(centres[7], threshold=0.0)[0].name != "person00007"


def test_remove_template(gal: Gallery) -> None:
    names, templates, _ = synthetic(2, 2)
    tids = gal.add_embeddings(names, templates)
    gal.remove_template(int(tids[0]))
    assert gal.get("person00000").template_count == 1
    (match,) = gal.search(templates[0], top_k=1)[0]
    assert match.template_id != tids[0]
    with pytest.raises(GalleryError, match="no template"):
        gal.remove_template(int(tids[0]))


# --- persistence, index rebuild, export --------------------------------------------------------
def test_reopen_keeps_everything_and_loads_the_saved_index(
    gal: Gallery, gdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    names, templates, centres = synthetic(30, 2)
    gal.add_embeddings(names, templates)
    gal.close()
    caplog.set_level("INFO", logger="faceprint.gallery")
    with Gallery.open(gdir) as g:
        assert "rebuilding" not in caplog.text
        assert len(g) == 30 and g.template_count == 60 and len(g.index) == 60
        assert g.identify(centres[12], threshold=0.5)[0].name == "person00012"


@pytest.mark.parametrize("damage", ["missing", "corrupt", "stale"])
def test_damaged_index_is_rebuilt_from_sqlite(
    gal: Gallery, gdir: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    names, templates, centres = synthetic(10, 2)
    gal.add_embeddings(names, templates)
    gal.close()
    index_dir = gdir / "index"
    files = sorted(p for p in index_dir.rglob("*") if p.is_file())
    assert files
    if damage == "missing":
        for f in files:
            f.unlink()
    elif damage == "corrupt":
        for f in files:
            data = bytearray(f.read_bytes())
            data[len(data) // 2] ^= 0xFF
            f.write_bytes(bytes(data))
    else:  # another process adds without saving the index (e.g. it was killed)
        g2 = Gallery.open(gdir)
        g2.add_embeddings(["late"], templates[:1])
        g2._store.close()  # no save of the index: as if killed
    caplog.set_level("INFO", logger="faceprint.gallery")
    with Gallery.open(gdir) as g:
        assert "rebuilding the index" in caplog.text
        expected = 21 if damage == "stale" else 20
        assert len(g.index) == expected == g.template_count
        assert g.identify(centres[4], threshold=0.5)[0].name == "person00004"


def test_export_import_round_trip(gal: Gallery, tmp_path: Path) -> None:
    names, templates, centres = synthetic(8, 2)
    thumbs = [RNG.bytes(100) for _ in names]
    gal.add_embeddings(names, templates, thumbnails=thumbs, sources=[f"{n}.jpg" for n in names])
    gal.set_metadata("person00003", {"role": "x"})
    path = gal.export_to(tmp_path / "export.zip")
    with Gallery.create(tmp_path / "copy", "dlib") as copy:
        assert copy.import_from(path) == 16
        assert copy.get("person00003").metadata == {"role": "x"}
        assert copy.identify(centres[5], threshold=0.5)[0].name == "person00005"
        tpl = copy.templates("person00001")[0]
        assert tpl.source == "person00001.jpg" and copy.thumbnail(tpl.id) == thumbs[2]
        with pytest.raises(IdentityExistsError):
            copy.import_from(path)
        assert copy.template_count == 16
    with (
        Gallery.create(tmp_path / "other", "dlib-reference") as other,
        pytest.raises(PackMismatchError),
    ):
        other.import_from(path)


def test_other_process_changes_are_seen_before_queries(gal: Gallery, gdir: Path) -> None:
    names, templates, centres = synthetic(4, 1)
    gal.add_embeddings(names[:2], templates[:2])
    with Gallery.open(gdir) as other:
        other.add_embeddings(names[2:], templates[2:])
        other.remove("person00000")
    assert gal.identify(centres[3], threshold=0.5)[0].name == "person00003"
    assert gal.identify(centres[0], threshold=0.99)[0].name is None
    assert len(gal) == 3 and len(gal.index) == 3


def test_mean_search_illustrates_with_first_template(gal: Gallery) -> None:
    names, templates, centres = synthetic(4, 3)
    thumbs = [bytes([i]) * 50 for i in range(len(names))]
    tids = gal.add_embeddings(names, templates, thumbnails=thumbs)
    (best, *_rest) = gal.search(centres[2], top_k=2, aggregate="mean")[0]
    assert best.name == "person00002" and best.template_id == tids[6]
    assert best.thumbnail == thumbs[6]
    assert best.similarity == pytest.approx(float((templates[6:9] @ centres[2]).mean()), abs=1e-5)


def test_set_index_switches_backend_and_persists(gal: Gallery, gdir: Path) -> None:
    pytest.importorskip("faiss", reason="the faiss extra")
    names, templates, centres = synthetic(20, 2)
    gal.add_embeddings(names, templates)
    gal.set_index("exact-f16")
    assert gal.index.name == "exact-f16" and len(gal.index) == 40
    gal.close()
    with Gallery.open(gdir) as g:
        assert g.settings.index_backend == "exact-f16" and g.index.name == "exact-f16"
        assert g.identify(centres[9], threshold=0.5)[0].name == "person00009"
    with pytest.raises(ValueError, match="unknown index backend"):
        Gallery.create(gdir.parent / "bad", "dlib", index="nope")


def test_no_query_face_gives_no_result(gal: Gallery) -> None:
    from faceprint.types import Faces

    gal.add_embeddings(["a"], unit(RNG.normal(size=(1, DIM))))
    assert gal.identify(Faces.empty(), threshold=0.5) == []
    assert gal.identify(Faces.empty(DIM)) == [] and gal.search(np.zeros((0, DIM))) == []


def test_folder_report_paths_are_valid_unicode(gal: Gallery, tmp_path: Path) -> None:
    """A file name that is not UTF-8 (bytes kept by Python as lone surrogates) is reported with
    ``\\xNN`` escapes, so the report can be written as JSON."""
    import json
    import os

    root = make_folders(tmp_path / "people")
    odd = os.fsencode(root / "red") + b"/caf\xe9.png"
    with open(odd, "wb") as fh:
        fh.write(b"not an image")
    report = gal.enroll_folders(root, fake_analyzer())
    rows = [o.to_dict() for o in report.outcomes if o.status == "unreadable"]
    assert [r["file"].rsplit("/", 1)[-1] for r in rows] == ["caf\\xe9.png"]
    json.dumps(rows, ensure_ascii=False).encode("utf-8")  # no lone surrogate left
