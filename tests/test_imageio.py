from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.errors import ImageError, ImageTooLargeError
from faceprint.imageio import load_image


def encode(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


RGB = np.zeros((6, 8, 3), np.uint8)
RGB[..., 0] = 200  # red
RGB[0, 0] = (1, 2, 3)


def test_path_bytes_pil_and_array_agree(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(RGB).save(path)
    for source in (path, str(path), path.read_bytes(), Image.open(path), RGB):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.shape == (6, 8, 3)
        np.testing.assert_array_equal(out, RGB)


def test_bgr_array_is_swapped() -> None:
    out = load_image(RGB[:, :, ::-1], channels="bgr")
    np.testing.assert_array_equal(out, RGB)
    with pytest.raises(ValueError, match="channels"):
        load_image(RGB, channels="rbg")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "expect_pixel"),
    [
        ("L", (7, 7, 7)),
        ("P", None),
        ("I;16", (255, 255, 255)),
        ("RGBA", (255, 255, 255)),
        ("CMYK", None),
    ],
)
def test_modes_become_rgb8(mode: str, expect_pixel: tuple[int, int, int] | None) -> None:
    if mode == "L":
        img = Image.fromarray(np.full((4, 5), 7, np.uint8))
    elif mode == "I;16":
        img = Image.fromarray(np.full((4, 5), 65535, np.uint16))
    elif mode == "RGBA":
        img = Image.fromarray(np.zeros((4, 5, 4), np.uint8))  # fully transparent -> white
    else:
        img = Image.fromarray(RGB).convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    out = load_image(encode(img, fmt))
    assert out.shape[2] == 3 and out.dtype == np.uint8
    if expect_pixel is not None:
        assert tuple(out[0, 0]) == expect_pixel


def test_exif_orientation_applied() -> None:
    img = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    out = load_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert out.shape == (20, 10, 3)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((0, 4, 3), np.uint8), "no pixels"),
        (np.zeros((4, 4, 2), np.uint8), "expected"),
        (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
        (np.zeros((4, 4, 3), np.complex64), "unsupported pixel type"),
    ],
)
def test_bad_arrays(array: np.ndarray, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        load_image(array)


def test_float_and_uint16_arrays() -> None:
    assert load_image(np.ones((2, 2), np.float32))[0, 0, 0] == 255
    assert load_image(np.full((2, 2, 3), 65535, np.uint16))[0, 0, 0] == 255


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    good = encode(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)), "JPEG"
    )
    cases = {
        "empty.jpg": b"",
        "text.jpg": b"this is not an image\n",
        "truncated.jpg": good[: len(good) // 2],
        "corrupt.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImageError) as info:
            load_image(path)
        assert name in str(info.value)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="unsupported image input"):
        load_image(12345)  # type: ignore[arg-type]


def test_limits() -> None:
    data = encode(Image.fromarray(np.zeros((100, 100, 3), np.uint8)))
    with pytest.raises(ImageTooLargeError, match="pixels"):
        load_image(data, max_pixels=5000)
    with pytest.raises(ImageTooLargeError, match="bytes"):
        load_image(data, max_file_bytes=10)
    with pytest.raises(ImageTooLargeError):
        load_image(np.zeros((100, 100, 3), np.uint8), max_pixels=10)
    assert issubclass(ImageTooLargeError, ValueError)
