"""The photo library on real photos (../shared/data/photos): scan, cluster, label, find,
incremental re-scans, bad files, every format, the CLI's JSON, and a kill -9 crash test."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceprint.cli import app
from faceprint.library import FaceRecord, Library

pytestmark = pytest.mark.data

#: file in photos/face_recognition → (name in the test tree, people in it, EXIF date or None)
SUBSET: dict[str, tuple[str, frozenset[str], str | None]] = {
    "obama.jpg": ("2015/obama.jpg", frozenset({"obama"}), "2015:06:01 10:00:00"),
    "obama_small.jpg": ("2009/obama_small.jpg", frozenset({"obama"}), "2009:01:20 12:00:00"),
    "knn_examples/test/obama1.jpg": (
        "2012/obama1.jpg",
        frozenset({"obama"}),
        "2012:11:06 23:00:00",
    ),
    "knn_examples/train/obama/obama2.jpg": ("misc/obama2.webp", frozenset({"obama"}), None),
    "biden.jpg": ("2013/biden.jpg", frozenset({"biden"}), "2013:01:01 09:00:00"),
    "knn_examples/train/biden/biden2.jpg": ("misc/biden2.tiff", frozenset({"biden"}), None),
    "two_people.jpg": ("2014/two_people.jpg", frozenset({"obama", "biden"}), "2014:05:05 15:00:00"),
    "knn_examples/train/kit_harington/john1.jpeg": ("got/john1.jpeg", frozenset({"kit"}), None),
    "knn_examples/train/kit_harington/john2.jpeg": ("got/john2.gif", frozenset({"kit"}), None),
    "knn_examples/test/johnsnow_test1.jpg": ("got/johnsnow.jpg", frozenset({"kit"}), None),
    "knn_examples/train/rose_leslie/img1.jpg": ("got/rose1.jpg", frozenset({"rose"}), None),
    "knn_examples/train/rose_leslie/img2.jpg": ("got/rose2.heic", frozenset({"rose"}), None),
    "knn_examples/test/kit_with_rose.jpg": (
        "got/kit_with_rose.jpg",
        frozenset({"kit", "rose"}),
        None,
    ),
    "knn_examples/train/alex_lacamoire/img1.jpg": ("music/alex1.jpg", frozenset({"alex"}), None),
    "alex-lacamoire.png": ("music/alex2.png", frozenset({"alex"}), None),
}
NAMES = {"obama": "Barack Obama", "biden": "Joe Biden", "kit": "Kit Harington",
         "rose": "Rose Leslie", "alex": "Alex Lacamoire"}  # fmt: skip
#: people the precision-first default leaves unclustered here: Alex Lacamoire's two photos score
#: cosine 0.936 with each other (flip-augmented, the library default; 0.932 without), under
#: the default clustering threshold of two lone faces (0.9405 + 0.0075, chosen on LFW for pairwise
#: precision), so they stay apart rather than risk a wrong merge
LEFT_APART = frozenset({"alex"})
BAD = {
    "bad/empty.jpg": "empty file",
    "bad/truncated.jpg": "truncated",
    "bad/text.jpg": "not an image",
}


def _write(src: Path, dst: Path, date: str | None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    ext = dst.suffix.lower()
    if ext in (".jpg", ".jpeg", ".png") and date is None and src.suffix.lower() == ext:
        shutil.copyfile(src, dst)
        return
    with Image.open(src) as opened:
        img = opened.convert("RGB")
    exif = Image.Exif()
    if date is not None:
        exif.get_ifd(0x8769)[36867] = date
    if ext == ".heic":
        import pillow_heif

        pillow_heif.from_pillow(img).save(dst, quality=90)
    elif ext == ".gif":
        img.save(dst, format="GIF")
    elif ext in (".jpg", ".webp"):
        img.save(dst, quality=95, exif=exif)
    else:
        img.save(dst)


def make_tree(photos: Path, root: Path, limit: int | None = None) -> dict[str, frozenset[str]]:
    """The test tree (the first ``limit`` photos of SUBSET); returns path → people."""
    truth = {}
    for src, (dst, people, date) in list(SUBSET.items())[:limit]:
        _write(photos / src, root / dst, date)
        truth[dst] = people
    (root / "bad").mkdir()
    (root / "bad" / "empty.jpg").write_bytes(b"")
    data = (photos / "obama.jpg").read_bytes()
    (root / "bad" / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (root / "bad" / "text.jpg").write_text("this is not a photo\n")
    (root / "bad" / "loop").symlink_to(root / "bad")
    (root / "notes.txt").write_text("holiday notes")
    return truth


@pytest.fixture(scope="module")
def tree(
    photos: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, frozenset[str]]]:
    root = tmp_path_factory.mktemp("library-tree") / "photos"
    return root, make_tree(photos, root)


@pytest.fixture(scope="module")
def scanned(
    tree: tuple[Path, dict[str, frozenset[str]]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, object]]:
    """A library of the test tree, scanned (in this process) and clustered."""
    root, _ = tree
    directory = tmp_path_factory.mktemp("library") / "lib"
    calls: list[tuple[int, int | None]] = []
    with Library.create(directory) as lib:
        report = lib.scan(root, workers=0, progress=lambda done, total: calls.append((done, total)))
        lib.cluster()
    n = report.added + len(BAD)
    assert calls[-1] == (n, n) and len(calls) == n  # the progress bar's feed
    yield directory, report


def _clone(scanned_dir: Path, tree_root: Path, tmp_path: Path) -> tuple[Library, Path]:
    """A private copy of the library and its tree (tests that change things use one)."""
    root = tmp_path / "photos"
    shutil.copytree(tree_root, root, symlinks=True)
    shutil.copytree(scanned_dir, tmp_path / "lib")
    lib = Library.open(tmp_path / "lib")
    with lib._store.transaction() as cur:  # the copy indexes the copied tree
        lib._store.put_settings(cur, {"root": str(root.resolve())})
    lib.close()
    return Library.open(tmp_path / "lib"), root


def _people_of_cluster(faces: tuple[FaceRecord, ...], truth: dict[str, frozenset[str]]) -> set[str]:
    return {p for f in faces for p in truth.get(f.path, frozenset({"?"}))}


def _name_clusters(lib: Library, truth: dict[str, frozenset[str]]) -> dict[str, int]:
    """Label each person's cluster (the one holding their single-person photos)."""
    ids: dict[str, int] = {}
    for c in lib.clusters().clusters:
        singles = {next(iter(truth[f.path])) for f in c.faces if len(truth.get(f.path, ())) == 1}
        assert len(singles) <= 1, f"cluster {c.id} mixes {singles}"
        if singles:
            person = singles.pop()
            assert person not in ids, f"{person} is split over clusters {ids[person]} and {c.id}"
            ids[person] = c.id
    for person, cid in ids.items():
        lib.label(cid, NAMES[person])
    return ids


# --- scanning -----------------------------------------------------------------------------------


def test_scan_indexes_every_format_and_reports_bad_files(scanned, tree) -> None:
    _, report = scanned
    root, truth = tree
    assert report.files == len(truth) + len(BAD)
    assert report.added == len(truth)
    errors = {p.path: p.reason for p in report.errors}
    assert set(errors) == set(BAD)
    for path, word in BAD.items():
        assert word in errors[path], errors[path]
    skipped = {p.path: p.reason for p in report.skipped}
    assert "loop" in skipped["bad/loop"] and "not a photo" in skipped["notes.txt"]
    with Library.open(scanned[0]) as lib:
        faces = lib.clusters()
        paths = {f.path for c in faces.clusters for f in c.faces} | {
            f.path for f in faces.unclustered
        }
        for ext in (".webp", ".tiff", ".gif", ".heic", ".png", ".jpeg"):
            assert any(p.endswith(ext) for p in paths), f"no face found in the {ext} file"
        photo = next(p for p in lib.find_by_face(root / "2015" / "obama.jpg") if "2015" in p.path)
        assert photo.taken == "2015-06-01T10:00:00"


def test_cluster_one_per_person_and_none_mixed(scanned, tree) -> None:
    _, truth = tree
    with Library.open(scanned[0]) as lib:
        listing = lib.clusters()
        for c in listing.clusters:
            people = _people_of_cluster(c.faces, truth)
            singles = {p for f in c.faces if len(truth[f.path]) == 1 for p in truth[f.path]}
            assert len(singles) <= 1, f"cluster {c.id} mixes {singles}"
            if singles:  # every photo of the cluster shows that person
                (person,) = singles
                assert all(person in truth[f.path] for f in c.faces), (c.id, people)
        for person in NAMES:
            singles_of = [p for p, who in truth.items() if who == {person}]
            clusters = {c.id for c in listing.clusters for f in c.faces if f.path in singles_of}
            expected = 0 if person in LEFT_APART else 1  # never split, never mixed
            assert len(clusters) == expected, f"{person}: {clusters}"
        two = [f for c in listing.clusters for f in c.faces if f.path == "2014/two_people.jpg"]
        assert len({f.cluster for f in two}) == 2  # Obama and Biden apart


def test_label_then_new_photo_is_named_without_reclustering(
    scanned, tree, photos, tmp_path
) -> None:
    lib, root = _clone(scanned[0], tree[0], tmp_path)
    truth = dict(tree[1])
    with lib:
        _name_clusters(lib, truth)
        (root / "2016").mkdir()
        shutil.copyfile(photos / "obama-480p.jpg", root / "2016" / "new_obama.jpg")
        truth["2016/new_obama.jpg"] = frozenset({"obama"})
        report = lib.scan(workers=0)
        assert (report.added, report.changed, report.named) == (1, 0, 1)
        new = [f for f in lib.person_cluster("Barack Obama").faces if f.path.startswith("2016/")]
        assert [f.state for f in new] == ["auto"]
        found = lib.find("Barack Obama")
        expected = sorted(p for p, who in truth.items() if "obama" in who)
        assert sorted(p.path for p in found) == expected
        dated = [p.path for p in found if p.taken]
        assert dated == ["2009/obama_small.jpg", "2012/obama1.jpg", "2014/two_people.jpg",
                         "2015/obama.jpg"]  # fmt: skip
        assert [p.path for p in lib.find("Barack Obama", with_=["Joe Biden"])] == [
            "2014/two_people.jpg"
        ]
        # a template of each person is in the gallery: few, not every face
        assert 1 <= len(lib.gallery.templates("Barack Obama")) <= 5


def test_move_rename_delete_and_unchanged_rescan(scanned, tree, tmp_path) -> None:
    lib, root = _clone(scanned[0], tree[0], tmp_path)
    with lib:
        _name_clusters(lib, tree[1])
        before = lib.status()
        (root / "albums").mkdir()
        (root / "2015" / "obama.jpg").rename(root / "albums" / "renamed.jpg")
        (root / "2013" / "biden.jpg").unlink()
        gone = len([f for f in lib.person_cluster("Joe Biden").faces if f.path == "2013/biden.jpg"])
        report = lib.scan(workers=0)
        assert (report.moved, report.deleted, report.added, report.changed) == (1, 1, 0, 0)
        assert report.faces_removed == gone and report.faces_added == 0
        paths = [p.path for p in lib.find("Barack Obama")]
        assert "albums/renamed.jpg" in paths and "2015/obama.jpg" not in paths
        moved = [f for f in lib.person_cluster("Barack Obama").faces if f.path.startswith("albums")]
        assert [f.state for f in moved] == ["confirmed"]
        assert "2013/biden.jpg" not in [p.path for p in lib.find("Joe Biden")]
        assert lib.status().faces == before.faces - gone
        again = lib.scan(workers=0)
        assert (again.added, again.changed, again.moved, again.deleted) == (0, 0, 0, 0)
        assert {p.path for p in again.errors} == set(BAD)  # remembered, not decoded again
        # a changed file is decoded again; its old faces go
        with Image.open(root / "got" / "rose1.jpg") as rose:
            flipped = rose.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        flipped.save(root / "got" / "rose1.jpg", quality=95)
        changed = lib.scan(workers=0)
        assert changed.changed == 1 and changed.faces_added == changed.faces_removed


def test_cli_json_outputs(scanned, tree, tmp_path) -> None:
    lib, root = _clone(scanned[0], tree[0], tmp_path)
    with lib:
        ids = _name_clusters(lib, tree[1])
    runner = CliRunner()
    d = str(tmp_path / "lib")
    res = runner.invoke(app, ["library", "clusters", "--library", d, "--json",
                              "--sheets", str(tmp_path / "sheets")])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    named = {c["name"]: c for c in data["clusters"] if c["name"]}
    assert set(named) == {NAMES[p] for p in ids} == {NAMES[p] for p in NAMES if p not in LEFT_APART}
    face = named["Barack Obama"]["faces"][0]
    assert set(face) >= {"id", "path", "box"} and len(face["box"]) == 4
    assert isinstance(data["unclustered"], list)
    assert len(list((tmp_path / "sheets").glob("cluster_*.png"))) == len(data["clusters"])
    res = runner.invoke(app, ["library", "find", "Joe Biden", "--library", d, "--json",
                              "--slideshow", str(tmp_path / "show"),
                              "--sheet", str(tmp_path / "biden.png")])  # fmt: skip
    assert res.exit_code == 0, res.output
    photos_ = json.loads(res.stdout)["photos"]
    assert photos_[0]["path"] == "2013/biden.jpg"  # oldest dated first
    assert {"path", "taken"} <= set(photos_[0])
    links = sorted((tmp_path / "show").iterdir())
    assert len(links) == len(photos_) and all(p.is_symlink() for p in links)
    with Image.open(tmp_path / "biden.png") as sheet:
        assert sheet.format == "PNG"
    res = runner.invoke(app, ["library", "find", "Nobody", "--library", d])
    assert res.exit_code == 2 and "no person named 'Nobody'" in res.output
    res = runner.invoke(app, ["library", "label", "999", "X", "--library", d])
    assert res.exit_code == 2 and "no cluster 999" in res.output
    res = runner.invoke(app, ["library", "scan", str(root), "--library", d])  # nothing new
    assert res.exit_code == 0, res.output
    assert f"{len(tree[1]) + len(BAD)} photos in" in res.stdout and "0 new" in res.stdout
    assert "error: bad/empty.jpg: empty file" in res.stderr
    res = runner.invoke(app, ["library", "status", "--library", d, "--json"])
    assert json.loads(res.stdout)["people"] == sorted(NAMES[p] for p in ids)
    assert ids


# --- the "done means" scenario on the whole shared photo folder --------------------------------


@pytest.mark.slow
def test_whole_photo_folder_groups_the_known_people(data_dir: Path, tmp_path: Path) -> None:
    photos_root = data_dir / "photos"
    fr = "face_recognition/"
    truth: dict[str, frozenset[str]] = {}
    for path in photos_root.rglob("*"):
        rel = path.relative_to(photos_root).as_posix()
        who = {p for p, keys in _KEYS.items() if any(k in rel.lower() for k in keys)}
        if rel.startswith(fr) and who:
            truth[rel] = frozenset(who)
    with Library.create(tmp_path / "lib") as lib:
        lib.scan(photos_root)
        lib.cluster()
        listing = lib.clusters()
        for person in NAMES:
            clusters = {c.id for c in listing.clusters for f in c.faces
                        if truth.get(f.path) == {person}}  # fmt: skip
            assert len(clusters) == 1, f"{person} split over {clusters}"
            (cid,) = clusters
            faces = next(c for c in listing.clusters if c.id == cid).faces
            strays = [f.path for f in faces if person not in truth.get(f.path, ())]
            assert not strays, f"{person}'s cluster also holds {strays}"


_KEYS = {
    "obama": ("obama", "two_people", "32bit"),
    "biden": ("biden", "two_people"),
    "kit": ("kit_harington", "johnsnow", "kit_with_rose"),
    "rose": ("rose_leslie", "kit_with_rose"),
    "alex": ("alex_lacamoire", "alex-lacamoire"),
}


# --- crash safety ---------------------------------------------------------------------------------


def _index(directory: Path) -> dict[str, list[tuple[object, ...]]]:
    """Photo path → its faces (box, score rounded; embedding rounded), for comparison."""
    import sqlite3

    conn = sqlite3.connect(directory / "library.sqlite")
    rows = conn.execute(
        "SELECT p.path, p.sha256, f.idx, f.x1, f.y1, f.x2, f.y2, f.embedding FROM photos p "
        "LEFT JOIN faces f ON f.photo_id = p.id ORDER BY p.path, f.idx"
    ).fetchall()
    dup = conn.execute(
        "SELECT COUNT(*) FROM (SELECT photo_id, idx FROM faces GROUP BY photo_id, idx "
        "HAVING COUNT(*) > 1)"
    ).fetchone()[0]
    conn.close()
    assert dup == 0
    index: dict[str, list[tuple[object, ...]]] = {}
    for path, sha, idx, *box, emb in rows:
        entry = index.setdefault(path, [])
        if idx is not None:
            vec = np.round(np.frombuffer(emb, np.float32), 3).tolist()
            entry.append((sha, idx, *np.round(box, 1).tolist(), tuple(vec)))
    return index


#: a scan that commits every photo on its own, so a kill can be timed on observed commits
_SCAN = (
    "import sys; from faceprint.library import Library\n"
    "d = sys.argv[2]\n"
    "with (Library.open(d) if Library.exists(d) else Library.create(d)) as lib:\n"
    "    lib.scan(sys.argv[1], workers=0, commit_every=1)\n"
)


def _photos_committed(directory: Path) -> int:
    """Photos committed in ``directory``'s library so far (0 before the database exists)."""
    import sqlite3

    db = directory / "library.sqlite"
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM photos").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet, or its schema not yet written
        return 0


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume(photos: Path, tmp_path: Path) -> None:
    """SIGKILL the scan right after its k-th photo is committed (k drawn at random), three
    times, then resume: every committed photo is whole and the result equals a clean scan.
    The kills follow observed commits, never the clock, so a loaded machine changes nothing."""
    root = tmp_path / "photos"
    make_tree(photos, root, limit=8)
    ref = subprocess.run(command_scan(root, tmp_path / "reference"), capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    expected = _index(tmp_path / "reference")
    target = tmp_path / "crashy"
    targets = sorted(random.Random(13).sample(range(1, len(expected) - 1), 3))
    seen_partial = []
    for k in targets:  # kill once at least k photos are committed (earlier rounds' included)
        proc = subprocess.Popen([sys.executable, "-c", _SCAN, str(root), str(target)],
                                start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + 600  # a ceiling against a hang, not an expectation
        while _photos_committed(target) < k and proc.poll() is None:
            assert time.monotonic() < deadline, f"no {k} photos committed in 600 s"
            time.sleep(0.01)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _out, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, f"the scan ended before the kill: {err!r}"
        partial = _index(target)  # every committed photo is whole: equal to the reference
        for path, faces in partial.items():
            assert faces == expected[path], path
        seen_partial.append(len(partial))
    done = subprocess.run(command_scan(root, target), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert _index(target) == expected
    assert seen_partial == sorted(seen_partial) and seen_partial[0] >= targets[0], seen_partial
    assert any(n < len(expected) for n in seen_partial), (seen_partial, targets)


def command_scan(root: Path, directory: Path) -> list[str]:
    """The CLI's scan of ``root`` into the library at ``directory``."""
    return [sys.executable, "-m", "faceprint", "library", "scan", str(root),
            "--library", str(directory), "--workers", "0", "--quiet"]  # fmt: skip


def test_cancelled_scan_commits_nothing_half_done(tree, tmp_path: Path) -> None:
    import threading

    stop = threading.Event()
    stop.set()
    with Library.create(tmp_path / "lib") as lib:
        report = lib.scan(tree[0], workers=0, cancel=stop)
        assert report.cancelled and report.added == 0
        assert lib.status().photos == 0


def test_permission_denied_and_file_changing_during_scan(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both reported with their reason and the scan goes on (root ignores chmod, so the
    engine's file read is made to fail / to see the file change as the OS would)."""
    import faceprint.batch
    from faceprint.errors import ImageError

    root = tmp_path / "photos"
    root.mkdir()
    for name in ("locked.jpg", "changing.jpg", "fine.jpg"):
        shutil.copyfile(photos / "obama_small.jpg", root / name)
    real = faceprint.batch.read_image_file

    def read(path: str | os.PathLike[str], *args: object) -> bytes:
        name = Path(path).name
        if name == "locked.jpg":
            raise ImageError(f"{path}: permission denied", source=path)
        if name == "changing.jpg":
            os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
        return real(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(faceprint.batch, "read_image_file", read)
    with Library.create(tmp_path / "lib") as lib:
        report = lib.scan(root, workers=0)
        assert {p.path: p.reason for p in report.errors} == {
            "locked.jpg": "permission denied",
            "changing.jpg": "changed during the scan (it will be indexed by the next scan)",
        }
        assert report.added == 1 and report.faces_added == 1
        monkeypatch.setattr(faceprint.batch, "read_image_file", real)
        again = lib.scan(workers=0)
        assert again.added == 1  # the changed file is indexed now
        assert [p.path for p in again.errors] == ["locked.jpg"]  # remembered, not retried
