"""Decoding and validation of every input image, in one place.

:func:`load_image` accepts a file path, raw bytes, a NumPy array or a PIL image and returns an
``(H, W, 3)`` uint8 **RGB** array with EXIF orientation applied. Grayscale, RGBA, palette, CMYK
and 16-bit images become 8-bit RGB. Pixel count and file size are bounded; anything that cannot be
decoded raises :class:`~faceprint.errors.ImageError` naming the source and the cause.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from faceprint.errors import ImageError, ImageTooLargeError

__all__ = ["MAX_FILE_BYTES", "MAX_PIXELS", "ImageInput", "load_image", "source_name"]

#: largest accepted image, in pixels (width × height); 50 megapixels by default
MAX_PIXELS = 50_000_000
#: largest accepted encoded file, in bytes; 50 MiB by default
MAX_FILE_BYTES = 50 * 1024 * 1024

ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | npt.NDArray | Image.Image


def source_name(source: object) -> str:
    """Short human name of an input for messages: the path, or the kind of object."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.size[0]}x{source.size[1]} {source.mode}>"
    return f"<{type(source).__name__}>"


def load_image(
    source: ImageInput,
    *,
    channels: Literal["rgb", "bgr"] = "rgb",
    max_pixels: int = MAX_PIXELS,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> npt.NDArray[np.uint8]:
    """Decode ``source`` into an ``(H, W, 3)`` uint8 RGB array.

    Args:
        source: a path, encoded bytes, a PIL image, or an array. Arrays are ``(H, W)``,
            ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``; their channel order is ``channels``.
        channels: channel order of an array input (``"rgb"``, or ``"bgr"`` for OpenCV arrays).
            Ignored for files, bytes and PIL images, whose order is known.
        max_pixels: refuse images with more pixels (decompression-bomb guard).
        max_file_bytes: refuse encoded inputs larger than this.

    Raises:
        ImageError: unreadable, empty, truncated, corrupt, or not an image.
        ImageTooLargeError: over ``max_pixels`` or ``max_file_bytes``.
    """
    name = source_name(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, name, channels, max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, name, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        data = _read_file(Path(source), max_file_bytes)
    else:
        raise ImageError(f"{name}: unsupported image input type {type(source).__name__}")
    if len(data) > max_file_bytes:
        raise ImageTooLargeError(f"{name}: {len(data)} bytes is over the limit of {max_file_bytes}")
    if not data:
        raise ImageError(f"{name}: empty file")
    return _decode(data, name, max_pixels)


def _read_file(path: Path, max_file_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            raise ImageTooLargeError(f"{path}: {size} bytes is over the limit of {max_file_bytes}")
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not an image") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _decode(data: bytes, name: str, max_pixels: int) -> npt.NDArray[np.uint8]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: {w}x{h} pixels is over the limit of {max_pixels}"
                )
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{name}: {exc}") from exc
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({exc})") from exc
    return _from_pil(img, name, max_pixels)


def _from_pil(img: Image.Image, name: str, max_pixels: int) -> npt.NDArray[np.uint8]:
    w, h = img.size
    if w * h > max_pixels:
        raise ImageTooLargeError(f"{name}: {w}x{h} pixels is over the limit of {max_pixels}")
    if w == 0 or h == 0:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})")
    try:
        img = ImageOps.exif_transpose(img) or img
        if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            arr = np.asarray(img, dtype=np.float64)
            scale = 255.0 / 65535.0 if arr.max(initial=0) > 255 else 1.0
            gray = np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
            return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            img = img.convert("RGBA")
            bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, img)
        return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
    except (OSError, ValueError) as exc:
        raise ImageError(f"{name}: cannot convert image to RGB ({exc})") from exc


def _from_array(
    arr: npt.NDArray, name: str, channels: str, max_pixels: int
) -> npt.NDArray[np.uint8]:
    if channels not in ("rgb", "bgr"):
        raise ValueError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"{name}: expected (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    h, w = arr.shape[:2]
    if h == 0 or w == 0:
        raise ImageError(f"{name}: image has no pixels")
    if h * w > max_pixels:
        raise ImageTooLargeError(f"{name}: {w}x{h} pixels is over the limit of {max_pixels}")
    arr = _to_uint8(arr, name)
    if arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    if channels == "bgr":
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr[:, :, :3])


def _to_uint8(arr: npt.NDArray, name: str) -> npt.NDArray[np.uint8]:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageError(f"{name}: float image contains NaN or infinity")
        scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        return np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
    raise ImageError(f"{name}: unsupported pixel type {arr.dtype}")
