"""Decoding and validation of every input image, in one place.

:func:`load_image` accepts a file path, raw bytes, a NumPy array or a PIL image and returns an
``(H, W, 3)`` uint8 **RGB** array with EXIF orientation applied. Grayscale, RGBA, palette, CMYK
and 16-bit images become 8-bit RGB. HEIF/HEIC/AVIF files are decoded with ``pillow-heif`` when it
is installed (PIL itself is left unpatched). Pixel count and file size are bounded; only regular
files are read (a FIFO or ``/dev/zero`` is refused before reading), and the read is capped.
Anything that cannot be decoded raises :class:`~faceprint.errors.ImageError` naming the source
(file names that are not UTF-8 escaped, see :func:`printable`) and the cause, on one line.
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from faceprint.errors import ImageError, ImageTooLargeError, InvalidArgumentError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_JPEG_SCANS",
    "MAX_PIXELS",
    "THUMBNAIL_SIZE",
    "ImageInput",
    "is_heif",
    "jpeg_scans",
    "load_image",
    "printable",
    "read_image_file",
    "source_name",
    "thumbnail_jpeg",
]

#: largest accepted image, in pixels (width × height); 50 megapixels by default
MAX_PIXELS = 50_000_000
#: largest accepted encoded file, in bytes; 50 MiB by default
MAX_FILE_BYTES = 50 * 1024 * 1024

ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | npt.NDArray | Image.Image


def printable(text: object) -> str:
    """``text`` as valid Unicode for messages and JSON: bytes of a file name that are not
    UTF-8 (kept by Python as lone surrogates) become ``\\xNN`` escapes."""
    value = os.fsdecode(text) if isinstance(text, (bytes, os.PathLike)) else str(text)
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def source_name(source: object) -> str:
    """Short human name of an input for messages: the path (always valid Unicode, see
    :func:`printable`), or the kind of object."""
    if isinstance(source, (str, os.PathLike)):
        return _shorten(printable(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.size[0]}x{source.size[1]} {source.mode}>"
    return f"<{type(source).__name__}>"


#: longest file name shown whole in messages; longer ones keep their start and end
_MAX_SHOWN = 400


def _shorten(text: str) -> str:
    if len(text) <= _MAX_SHOWN:
        return text
    half = _MAX_SHOWN // 2
    return f"{text[:half]}...{text[-half:]}"


def load_image(
    source: ImageInput,
    *,
    channels: Literal["rgb", "bgr"] = "rgb",
    max_pixels: int = MAX_PIXELS,
    max_file_bytes: int = MAX_FILE_BYTES,
    name: str | None = None,
) -> npt.NDArray[np.uint8]:
    """Decode ``source`` into an ``(H, W, 3)`` uint8 RGB array.

    Args:
        source: a path, encoded bytes, a PIL image, or an array. Arrays are ``(H, W)``,
            ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``; their channel order is ``channels``.
        channels: channel order of an array input (``"rgb"``, or ``"bgr"`` for OpenCV arrays).
            Ignored for files, bytes and PIL images, whose order is known.
        max_pixels: refuse images with more pixels (decompression-bomb guard).
        max_file_bytes: refuse encoded inputs larger than this.
        name: how messages name the input (default: the path, or the kind of object).

    Raises:
        ImageError: unreadable, empty, truncated, corrupt, or not an image.
        ImageTooLargeError: over ``max_pixels`` or ``max_file_bytes``.
    """
    name = name or source_name(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, name, channels, max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, name, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        data = _read_file(Path(source), name, max_file_bytes)
    else:
        raise ImageError(f"{name}: unsupported image input type {type(source).__name__}")
    if len(data) > max_file_bytes:
        raise ImageTooLargeError(
            f"{name}: {len(data)} bytes is over the limit of {max_file_bytes}", source=name
        )
    if not data:
        raise ImageError(f"{name}: empty file", source=name)
    with _as_source(name):
        return _decode(data, name, max_pixels)


def read_image_file(path: str | os.PathLike[str], max_file_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of an image file, with the checks :func:`load_image` applies to paths.

    Raises:
        ImageError: missing, a directory, unreadable; ImageTooLargeError: over the limit.
    """
    return _read_file(Path(path), source_name(path), max_file_bytes)


def _read_file(path: Path, name: str, max_file_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_file_bytes + 1`` of them.

    Devices, FIFOs and sockets are refused before reading (``/dev/zero`` never ends, a FIFO
    blocks): the file is opened non-blocking and checked with ``fstat`` on the open descriptor,
    so a path swapped after a check cannot slip through, and the read is capped whatever
    ``stat`` said (a file that grows while it is read is still refused).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file", source=name) from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied", source=name) from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read ({exc.strerror or exc})", source=name) from exc
    try:
        _check_regular(os.fstat(fd), name, max_file_bytes)
        with os.fdopen(os.dup(fd), "rb", buffering=0) as f:
            return _read_capped(f, max_file_bytes + 1)
    except OSError as exc:
        raise ImageError(f"{name}: cannot read ({exc.strerror or exc})", source=name) from exc
    finally:
        os.close(fd)


def _check_regular(info: os.stat_result, name: str, max_file_bytes: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{name}: is a directory, not an image", source=name)
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(
            f"{name}: not a regular file (a device, FIFO or socket); save the image to a file "
            "first",
            source=name,
        )
    if info.st_size > max_file_bytes:
        raise ImageTooLargeError(
            f"{name}: {info.st_size} bytes is over the limit of {max_file_bytes}", source=name
        )


def _read_capped(f: io.RawIOBase, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``f`` (fewer at the end of the file)."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = f.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


@contextmanager
def _as_source(name: str) -> Iterator[None]:
    """Give image errors raised in the block ``source = name`` (when they have none)."""
    try:
        yield
    except ImageError as exc:
        if not exc.source:
            exc.source = name
        raise


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
            if img.format == "JPEG":
                _check_jpeg_scans(data, name)
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{found.group(1)} pixels" if found else "its size"
        raise ImageTooLargeError(
            f"{name}: {size} is over the limit of {max_pixels} (a decompression bomb?)"
        ) from exc
    except UnidentifiedImageError:
        if is_heif(data):
            return _from_pil(_decode_heif(data, name, max_pixels), name, max_pixels)
        raise ImageError(f"{name}: not an image file (unknown format)") from None
    except MemoryError as exc:
        raise ImageTooLargeError(f"{name}: not enough memory to decode it") from exc
    except Exception as exc:  # whatever a decoder raises on untrusted bytes means "corrupt"
        raise ImageError(f"{name}: corrupt or truncated image ({_detail(exc)})") from exc
    return _from_pil(img, name, max_pixels)


#: most scans a JPEG may have (a progressive JPEG has about 10; each scan makes the decoder pass
#: over the whole image again, so thousands of empty scans are a CPU bomb in a small file)
MAX_JPEG_SCANS = 100


def jpeg_scans(data: bytes) -> int:
    """Start-of-scan markers in a JPEG, counted without decoding: the header segments are
    skipped by their lengths, then every ``FF DA`` in the rest is a marker (entropy-coded data
    stuffs each ``FF`` with ``00``)."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return 0  # not a marker where one must be: the decoder will say it is corrupt
        marker = data[at + 1]
        if marker == 0xFF:
            at += 1  # fill byte
            continue
        if marker == 0xDA:
            return data.count(b"\xff\xda", at)
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return 0


def _check_jpeg_scans(data: bytes, name: str) -> None:
    scans = jpeg_scans(data)
    if scans > MAX_JPEG_SCANS:
        raise ImageError(
            f"{name}: a JPEG with {scans} scans (at most {MAX_JPEG_SCANS}); refused before "
            "decoding, as decoding it would take unbounded time (a decoder bomb)"
        )


def _detail(exc: BaseException) -> str:
    """The first line of a library's message (some end in a newline or hold several)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: ISO-BMFF brands of HEIF/HEIC (iPhone photos) and AVIF files
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}


def is_heif(data: bytes) -> bool:
    """Whether ``data`` (the first 12 bytes suffice) starts a HEIF/HEIC/AVIF file."""
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def _decode_heif(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """A HEIF/HEIC/AVIF image decoded with pillow-heif (optional; PIL is left unpatched)."""
    try:
        import pillow_heif
    except ImportError:
        raise ImageError(
            f'{name}: a HEIF/HEIC image; pip install "faceprint[heif]" to read it, or convert it to JPEG'
        ) from None
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        w, h = heif.size
        if w * h > max_pixels:
            raise ImageTooLargeError(f"{name}: {w}x{h} pixels is over the limit of {max_pixels}")
        return heif.to_pillow()
    except ImageError:
        raise
    except MemoryError as exc:
        raise ImageTooLargeError(f"{name}: not enough memory to decode it") from exc
    except Exception as exc:  # pillow-heif raises ValueError, RuntimeError, SyntaxError ...
        raise ImageError(f"{name}: corrupt or truncated HEIF image ({_detail(exc)})") from exc


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
    except MemoryError as exc:
        raise ImageTooLargeError(f"{name}: not enough memory to convert it") from exc
    except Exception as exc:  # malformed EXIF or an odd mode, from untrusted bytes
        raise ImageError(f"{name}: cannot convert image to RGB ({_detail(exc)})") from exc


def _from_array(
    arr: npt.NDArray, name: str, channels: str, max_pixels: int
) -> npt.NDArray[np.uint8]:
    if channels not in ("rgb", "bgr"):
        raise InvalidArgumentError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
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


# --- face thumbnails ------------------------------------------------------------------------------
#: side of the stored JPEG thumbnail of an aligned crop, in pixels
THUMBNAIL_SIZE = 112
THUMBNAIL_QUALITY = 85


def thumbnail_jpeg(crop: npt.NDArray[np.uint8], size: int = THUMBNAIL_SIZE) -> bytes:
    """A small JPEG of an aligned RGB crop (resized to ``size`` × ``size`` when larger): the
    thumbnail galleries, the batch engine and video tracks store."""
    import cv2

    small = crop
    if crop.shape[0] > size:
        small = np.asarray(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), np.uint8)
    bgr = np.ascontiguousarray(small[:, :, ::-1])
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    if not ok:
        raise ImageError("cannot encode the thumbnail as JPEG")
    return bytes(buf.tobytes())
