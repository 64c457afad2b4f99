"""Regression tests of the defects a new user's probe found (issue 12), one or more per defect.

Defects 3, 5, 7, 10 and 12 (``detect --draw``, ``--upsample``, ``verify``/``embed`` options) are
tested with the commands that own them; the corpus rows in test_hostile_cli.py cover them too.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _gallery_fakes import fake_analyzer, person_image, write_image
from faceprint.cli import app
from faceprint.errors import GalleryError, ImageError, InvalidArgumentError
from faceprint.evaluate.lfw import evaluate_lfw, lfw_config
from faceprint.gallery import Gallery
from faceprint.gallery.gallery import MAX_TOP_K
from faceprint.imageio import load_image
from hostile.checks import one_line, tree_digest
from hostile.corpus import ARCHIVE_CASES, unit_rows

runner = CliRunner()


@pytest.fixture
def gallery_dir(tmp_path: Path) -> Path:
    gdir = tmp_path / "g"
    with Gallery.create(gdir, "dlib") as g:
        g.add_embeddings(["alice", "bob", "carol"], unit_rows(3, seed=5))
    return gdir


# --- 1: an absurd top_k is refused, a large one clamped before anything is allocated -----------
def test_defect_1_top_k_is_checked_and_clamped(gallery_dir: Path) -> None:
    with Gallery.open(gallery_dir) as g:
        for bad in (0, -1, MAX_TOP_K + 1, 10**9, 10**19, 2.5, True):
            with pytest.raises(InvalidArgumentError, match="top_k"):
                g.search(unit_rows(1)[0], top_k=bad)  # type: ignore[arg-type]
            with pytest.raises(InvalidArgumentError, match="top_k"):
                g.identify(unit_rows(1)[0], top_k=bad)  # type: ignore[arg-type]
        queries = unit_rows(2000, seed=1)  # (faces x top_k) would be 20M cells unclamped
        found = g.search(queries, top_k=MAX_TOP_K, thumbnails=False)
        assert all(len(m) == 3 for m in found)
        assert len(g.identify(queries[:1], top_k=MAX_TOP_K, aggregate="mean")[0].matches) == 3


# --- 2: an archive is checked whole before the first write ------------------------------------
@pytest.mark.parametrize(
    "case_id",
    ["nan-embedding", "zero-embedding", "non-unit-embedding", "empty-name", "identity-minus-1"],
)
def test_defect_2_bad_archive_writes_nothing_and_gallery_reopens(
    case_id: str, tmp_path: Path, gallery_dir: Path
) -> None:
    (case,) = [c for c in ARCHIVE_CASES if c.id == case_id]
    path = case.make(tmp_path)
    before = tree_digest(gallery_dir)
    with Gallery.open(gallery_dir) as g, pytest.raises(GalleryError):
        g.import_from(path)
    assert tree_digest(gallery_dir) == before
    with Gallery.open(gallery_dir) as g:
        assert (
            len(g) == 3 and g.identify(unit_rows(3, seed=5)[2], threshold=0.99)[0].name == "carol"
        )


# --- 4: square brackets are text, not Rich markup ---------------------------------------------
def test_defect_4_brackets_in_names_and_file_names(tmp_path: Path, gallery_dir: Path) -> None:
    missing = tmp_path / "IMG_002[edited].jpg"
    args = ["identify", "--gallery", str(gallery_dir), "--workers", "0", str(missing)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "IMG_002[edited].jpg" in result.stderr
    result = runner.invoke(
        app, ["people", "--gallery", str(gallery_dir), "--rename", "bob", "John [/Jr]"]
    )
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["people", "--gallery", str(gallery_dir)])
    assert "John [/Jr]" in result.stdout and "Traceback" not in result.output
    result = runner.invoke(app, ["people", "--gallery", str(gallery_dir), "--remove", "[/b]bob"])
    assert result.exit_code == 2 and "[/b]bob" in result.stderr
    manifest = tmp_path / "pack.toml"
    manifest.write_text('licence = "x"\n[recognizer]\nfile = "r.onnx"\n')
    result = runner.invoke(app, ["models", "show", str(manifest)])
    assert result.exit_code == 2 and "[detector]" in result.stderr


# --- 6: devices, FIFOs and growing files -------------------------------------------------------
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_defect_6_devices_are_refused_without_reading(
    device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path(device).exists():
        pytest.skip(f"no {device} here")
    import faceprint.imageio

    def no_read(*_args: object) -> bytes:
        raise AssertionError("a device was read")

    monkeypatch.setattr(faceprint.imageio, "_read_capped", no_read)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(device)
    assert resource.getrlimit(resource.RLIMIT_AS) == (soft, hard)


def test_defect_6_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(outcome, fifo), daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "load_image hung on a FIFO"
    assert isinstance(outcome[0], ImageError) and "not a regular file" in str(outcome[0])


def _capture(out: list[BaseException], path: Path) -> None:
    try:
        load_image(path)
    except BaseException as exc:
        out.append(exc)


def test_defect_6_read_is_capped_whatever_stat_says(tmp_path: Path) -> None:
    """The bytes actually read are capped: a file growing after its stat is still refused."""
    path = tmp_path / "grow.jpg"
    path.write_bytes(b"\xff\xd8" + b"\0" * 2000)
    with pytest.raises(ImageError, match="over the limit"):
        load_image(path, max_file_bytes=1000)


# --- 8: a failed enrolment into a new folder leaves nothing ------------------------------------
def test_defect_8_failed_enrol_into_new_folder_leaves_nothing(tmp_path: Path) -> None:
    """(With the default pack: its detector finds no face in a black image.)"""
    blank = write_image(tmp_path / "blank.png", np.zeros((80, 80, 3), np.uint8))
    target = tmp_path / "new" / "gallery"
    result = runner.invoke(app, ["enroll", "--gallery", str(target), "--name", "x", str(blank)])
    assert result.exit_code == 2 and not target.exists() and (tmp_path / "new").exists() is False
    existing = tmp_path / "existing"
    existing.mkdir()
    result = runner.invoke(app, ["enroll", "--gallery", str(existing), "--name", "x", str(blank)])
    assert result.exit_code == 2 and existing.is_dir() and list(existing.iterdir()) == []


# --- 9: file and folder names that are not UTF-8 ------------------------------------------------
def test_defect_9_non_utf8_names_do_not_stop_folder_enrolment(tmp_path: Path) -> None:
    root = os.fsencode(tmp_path / "people")
    for where in (b"/red/ok.png", b"/red/caf\xe9.png", b"/Jos\xe9/a.png", b"/green/g.png"):
        os.makedirs(os.path.dirname(root + where), exist_ok=True)
        colour = "green" if b"green" in where else "red"
        with open(root + where, "wb") as f:  # (OpenCV's writer crashes on such names)
            f.write(_png(person_image(colour)))
    with Gallery.create(tmp_path / "g", "dlib") as g:
        report = g.enroll_folders(os.fsdecode(root), fake_analyzer())
        assert report.counts() == {"enrolled": 3, "unreadable": 1}
        bad = report.skipped[0]
        assert bad.name == "Jos\\xe9" and "rename the folder" in bad.reason
        assert {t.source for t in g.templates("red")} == {"red/ok.png", "red/caf\\xe9.png"}


def _png(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


# --- 11: an empty or foreign gallery.sqlite is refused and left alone --------------------------
@pytest.mark.parametrize("content", [b"", b"SQLite format 3\0" + b"\0" * 84])
def test_defect_11_empty_or_foreign_database_is_not_modified(
    content: bytes, tmp_path: Path
) -> None:
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "gallery.sqlite").write_bytes(content)
    with pytest.raises(GalleryError) as info:
        Gallery.open(folder)
    one_line(str(info.value))
    assert "upgrade faceprint" not in str(info.value)
    assert sorted(p.name for p in folder.iterdir()) == ["gallery.sqlite"]
    assert (folder / "gallery.sqlite").read_bytes() == content


# --- 13: raw library messages -------------------------------------------------------------------
def test_defect_13_paths_that_are_files(tmp_path: Path, gallery_dir: Path) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    with pytest.raises(GalleryError, match="is a file, not a folder") as info:
        Gallery.create(afile, "dlib")
    assert "Errno" not in str(info.value)


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("shortlist=abc", "index backend 'pq': 'shortlist' must be int, got 'abc'"),
        ("bogus=1", "index backend 'pq': unknown parameter 'bogus'; known:"),
        ("m=1e19", "must be int"),
    ],
)
def test_defect_13_index_parameters(param: str, message: str, gallery_dir: Path) -> None:
    args = ["index", "--gallery", str(gallery_dir), "--backend", "pq", "--param", param]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert "invalid literal" not in result.stderr and "__init__()" not in result.stderr


def test_defect_13_control_characters_in_names(gallery_dir: Path) -> None:
    with Gallery.open(gallery_dir) as g:
        for name in ("a\nb", "\x1b[2J", "x\x00"):
            with pytest.raises(InvalidArgumentError, match="control"):
                g.add_embeddings([name], unit_rows(1))
        assert len(g) == 3


# --- 14: a missing image inside an LFW folder ---------------------------------------------------
def _lfw(tmp_path: Path) -> Path:
    root = tmp_path / "lfw"
    for name in ("A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg"):
        write_image(root / "images_deepfunneled" / name, person_image("red"))
    (root / "pairs.txt").write_text("1\nA 1 2\nA 1 B 2\n")
    return root


def test_defect_14_missing_lfw_image_is_named_not_a_traceback(tmp_path: Path) -> None:
    root = _lfw(tmp_path)
    (root / "images_deepfunneled" / "B" / "B_0002.jpg").symlink_to(tmp_path / "gone.jpg")
    from faceprint.errors import EvaluationError

    with pytest.raises(EvaluationError, match=r"B/B_0002\.jpg"):
        evaluate_lfw(root, lfw_config())
    (root / "images_deepfunneled" / "B" / "B_0003.jpg").mkdir()
    (root / "pairs.txt").write_text("1\nA 1 2\nA 1 B 1\n")
    with pytest.raises(EvaluationError, match=r"2 image\(s\) cannot be read"):
        evaluate_lfw(root, lfw_config(), identification=True)
    result = runner.invoke(app, ["evaluate", "lfw", "--data", str(root), "--identification"])
    assert result.exit_code == 2 and "B/B_0002.jpg" in result.stderr
    assert "Traceback" not in result.output


# --- 15: --append is explained, and the count is what the command added ------------------------
def test_defect_15_append_help_and_added_count() -> None:
    result = runner.invoke(app, ["enroll", "--help"], env={"COLUMNS": "200"})
    assert "exactly this name" in result.stdout and "new identity" in result.stdout


def test_subprocess_cli_has_no_traceback_on_bad_utf8_argument(tmp_path: Path) -> None:
    """The installed command with a file name that is not UTF-8 (through the real argv)."""
    raw = os.fsencode(tmp_path) + b"/x\xff.png"
    with open(raw, "wb") as f:
        f.write(b"not an image")
    proc = subprocess.run(
        [sys.executable, "-m", "faceprint", "detect", "--workers", "0", "--json", raw],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    rows = json.loads(proc.stdout.decode("utf-8"))
    assert rows[0]["file"].endswith("x\\xff.png") and "not an image" in rows[0]["error"]
