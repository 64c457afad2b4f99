"""Regression tests for what fuzzing found (``fuzz/``), each input rebuilt by code, plus a short
run of every fuzz target (marked slow)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.errors import GalleryError, ImageError
from faceprint.gallery import Gallery
from faceprint.imageio import load_image
from hostile.checks import one_line, tree_digest
from hostile.corpus import unit_rows

ROOT = Path(__file__).resolve().parents[1]


def _heic() -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    buf = io.BytesIO()
    img = Image.fromarray(np.full((32, 48, 3), 120, np.uint8))
    pillow_heif.from_pillow(img).save(buf, quality=60)
    return buf.getvalue()


def test_heif_declaring_a_huge_size_gives_one_line() -> None:
    """fuzz_image: pillow-heif's security-limit message ended in a newline (two lines)."""
    data = bytearray(_heic())
    at = data.find(b"ispe")
    data[at + 8 : at + 16] = struct.pack(">II", 192, 0xFFFFF6C0)  # width, height
    with pytest.raises(ImageError) as info:
        load_image(bytes(data))
    one_line(str(info.value))


def test_heif_with_an_unknown_box_version_is_an_image_error() -> None:
    """fuzz_image: pillow-heif raised SyntaxError for a meta box of version 255."""
    data = bytearray(_heic())
    at = data.find(b"meta")
    data[at + 4] = 0xFF
    with pytest.raises(ImageError, match="HEIF") as info:
        load_image(bytes(data))
    one_line(str(info.value))


def _export(doc_name: str = "gallery.json") -> bytes:
    doc = {
        "format": "faceprint-gallery",
        "version": 1,
        "pack": "dlib",
        "dim": 128,
        "identities": [{"name": "x", "metadata": {}, "created_at": "t", "updated_at": "t"}],
        "templates": [{"identity": 0, "source": "", "box": None, "thumbnail": None}],
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(doc_name, json.dumps(doc) * 3)
        vecs = io.BytesIO()
        np.save(vecs, unit_rows(1))
        zf.writestr("embeddings.npy", vecs.getvalue())
    return buf.getvalue()


def _corrupt_deflate() -> bytes:
    """An export whose gallery.json deflate stream is broken so that zlib itself raises."""
    import zlib

    good = _export()
    start = good.find(b"gallery.json") + len("gallery.json")
    for pos in range(start + 2, start + 200):
        for value in (0xFF, 0x00, 0x55):
            data = bytearray(good)
            data[pos] = value
            try:
                with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
                    zf.read("gallery.json")
            except zlib.error:
                return bytes(data)
            except Exception:
                continue
    raise AssertionError("no variant made zlib fail")


def _bad_utf8_member_name() -> bytes:
    """An export whose member name is flagged UTF-8 but is not (zipfile raised
    UnicodeDecodeError on open)."""
    data = _export("é.json")
    return data.replace("é".encode(), b"\xb0 ")


@pytest.mark.parametrize("make", [_corrupt_deflate, _bad_utf8_member_name])
def test_archive_that_breaks_zipfile_is_a_gallery_error(make, tmp_path: Path) -> None:
    """fuzz_archive: zlib.error and UnicodeDecodeError escaped from the importer."""
    path = tmp_path / "export.zip"
    path.write_bytes(make())
    gdir = tmp_path / "g"
    with Gallery.create(gdir, "dlib") as g:
        g.add_embeddings(["a"], unit_rows(1, seed=3))
    before = tree_digest(gdir)
    with Gallery.open(gdir) as g, pytest.raises(GalleryError, match="not a valid") as info:
        g.import_from(path)
    one_line(str(info.value))
    assert tree_digest(gdir) == before


@pytest.mark.slow
@pytest.mark.parametrize("target", ["image", "manifest", "archive"])
def test_fuzz_target_short_run(target: str, tmp_path: Path) -> None:
    """Each fuzz target for a few seconds (atheris when installed, else the built-in mutator):
    it runs, executes inputs, and finds nothing."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / f"fuzz_{target}.py"), "--seconds", "4",
         "--findings", str(tmp_path)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["executions"] > 10, proc.stderr[-2000:]
    assert report["findings"] == 0, [Path(f).read_bytes()[:200] for f in report["finding_files"]]
    assert proc.returncode == 0
