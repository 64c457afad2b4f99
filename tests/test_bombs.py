"""Decoder and archive bombs are refused before the work starts, and a gallery whose people were
deleted gives their space back."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from _server_live import scan_bomb
from faceprint.errors import ImageError
from faceprint.gallery import Gallery
from faceprint.imageio import MAX_JPEG_SCANS, jpeg_scans, load_image
from faceprint.server import Limits
from faceprint.server.errors import ApiError
from faceprint.server.routes.gallery import MAX_RATIO, RATIO_FLOOR, check_archive

MiB = 1024 * 1024


@pytest.mark.parametrize("scans", [MAX_JPEG_SCANS + 1, 2000, 10_000])
def test_jpeg_scan_bomb_is_refused_before_decoding(scans: int) -> None:
    bomb = scan_bomb(scans)
    assert jpeg_scans(bomb) > MAX_JPEG_SCANS
    with pytest.raises(ImageError, match=f"at most {MAX_JPEG_SCANS}"):
        load_image(bomb)


def test_ordinary_progressive_jpegs_still_decode(photos: Path) -> None:
    assert jpeg_scans((photos / "obama.jpg").read_bytes()) == 1
    plain = scan_bomb(scans=0)  # a progressive JPEG as PIL writes it (about ten scans)
    assert 1 < jpeg_scans(plain) <= 20
    assert load_image(plain).shape == (256, 256, 3)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("size", "count"),
    [(MiB, 200), (MiB - 1, 200), (RATIO_FLOOR + 1, 10), (RATIO_FLOOR, 2000), (256 * 1024 + 1, 1)],
    ids=["1MiB-x200", "just-under-1MiB-x200", "over-ratio-floor", "at-ratio-floor-x2000", "fat-thumbnail"],
)  # fmt: skip
def test_archive_bombs_have_no_boundary_gap(tmp_path: Path, size: int, count: int) -> None:
    members = {"gallery.json": b"{}", "embeddings.npy": b"x"}
    members.update({f"thumbnails/{i:07d}.jpg": b"\0" * size for i in range(count)})
    with pytest.raises(ApiError, match=r"zip bomb|a thumbnail is at most") as info:
        check_archive(_zip(tmp_path / "bomb.zip", members), Limits())
    assert info.value.status == 413


def test_a_real_export_passes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with Gallery.create(tmp_path / "g", "dlib") as g:
        vecs = rng.normal(size=(50, g.dim)).astype(np.float32)
        jpeg = bytes(rng.integers(0, 256, 4000, dtype=np.uint8))  # thumbnails do not compress
        g.add_embeddings([f"p{i}" for i in range(50)], vecs, thumbnails=[jpeg] * 50)
        g.export_to(tmp_path / "export.zip")
    check_archive(tmp_path / "export.zip", Limits())
    assert MAX_RATIO >= 50


def test_deleted_people_leave_the_gallery_small(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    with Gallery.create(tmp_path / "g", "dlib") as g:
        base = (tmp_path / "g" / "gallery.sqlite").stat().st_size
        big = bytes(rng.integers(0, 256, MiB, dtype=np.uint8))
        names = [f"bomb {i}" for i in range(20)]
        g.add_embeddings(names, rng.normal(size=(20, g.dim)), thumbnails=[big] * 20)
        assert (tmp_path / "g" / "gallery.sqlite").stat().st_size > 20 * MiB
        for name in names:
            g.remove(name)
        after = (tmp_path / "g" / "gallery.sqlite").stat().st_size
    assert after < base + 2 * MiB, (base, after)
