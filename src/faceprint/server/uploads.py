"""Uploaded files: bounded reads, formats sniffed from content (never from names or declared
types), and pixel counts read from the image header before anything is decoded."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError

from faceprint.imageio import is_heif
from faceprint.server.config import Limits
from faceprint.server.errors import ApiError

__all__ = ["Upload", "read_image", "read_images", "read_limited", "save_limited", "sniff_image"]

#: leading bytes → format name of the image types accepted
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
ACCEPTED = "JPEG, PNG, WebP, HEIC, GIF, BMP or TIFF"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """One accepted image upload: its bytes, sniffed format, and size from the header."""

    name: str
    data: bytes
    format: str
    width: int
    height: int


def sniff_image(head: bytes) -> str | None:
    """The image format of a file from its first bytes, or ``None``."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if is_heif(head):  # iPhone photos (decoded by pillow-heif, a dependency)
        return "heif"
    return None


def _label(upload: UploadFile, field: str) -> str:
    name = (upload.filename or "").replace("\n", " ")[:100]
    return f"{field} ({name})" if name else field


async def read_limited(upload: UploadFile, limit: int, field: str) -> bytes:
    """The whole file, refused with 413 as soon as it passes ``limit`` bytes."""
    size = upload.size
    if size is not None and size > limit:
        raise ApiError(
            413,
            "file_too_large",
            f"{_label(upload, field)}: {size} bytes is over the limit of {limit}",
        )
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise ApiError(
                413, "file_too_large", f"{_label(upload, field)}: over the limit of {limit} bytes"
            )
        parts.append(chunk)
    data = b"".join(parts)
    if not data:
        raise ApiError(400, "empty_file", f"{_label(upload, field)}: the file is empty")
    return data


async def save_limited(upload: UploadFile, target: Path, limit: int, label: str) -> None:
    """Stream the file to ``target`` (a large archive or video never sits in memory); 413 as
    soon as it passes ``limit`` bytes, 400 when it is empty. ``label`` names it in messages."""
    total = 0
    with target.open("wb") as fh:
        while chunk := await upload.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise ApiError(413, "file_too_large", f"{label}: over the limit of {limit} bytes")
            fh.write(chunk)
    if total == 0:
        raise ApiError(400, "empty_file", f"{label}: the file is empty")


async def read_image(upload: UploadFile, limits: Limits, field: str) -> Upload:
    """Read, sniff and size-check one image upload (nothing is decoded here).

    Raises:
        ApiError: 413 over the byte or pixel limit, 415 not an accepted image format,
            400 empty or with an unreadable header.
    """
    data = await read_limited(upload, limits.max_image_bytes, field)
    label = _label(upload, field)
    kind = sniff_image(data[:16])
    if kind is None:
        raise ApiError(
            415, "unsupported_media_type", f"{label}: the content is not a {ACCEPTED} image"
        )
    width, height = _heif_size(data, label) if kind == "heif" else _header_size(data, label)
    if width * height > limits.max_pixels:
        raise ApiError(
            413, "image_too_large",
            f"{label}: {width}x{height} pixels is over the limit of {limits.max_pixels}",
        )  # fmt: skip
    return Upload(upload.filename or field, data, kind, width, height)


async def read_images(uploads: list[UploadFile], limits: Limits, field: str) -> list[Upload]:
    """:func:`read_image` for each of several uploads, after checking their number."""
    if not uploads:
        raise ApiError(400, "missing_file", f"{field}: at least one image file is needed")
    if len(uploads) > limits.max_files:
        raise ApiError(
            413, "too_many_files",
            f"{field}: {len(uploads)} files is over the limit of {limits.max_files} per request",
        )  # fmt: skip
    return [await read_image(u, limits, field) for u in uploads]


def _heif_size(data: bytes, label: str) -> tuple[int, int]:
    """(width, height) of a HEIF/HEIC image from its header (pillow-heif decodes lazily)."""
    try:
        import pillow_heif

        return tuple(pillow_heif.open_heif(io.BytesIO(data)).size)
    except ImportError:
        raise ApiError(
            415, "unsupported_media_type", f"{label}: HEIC needs pillow-heif on the server"
        ) from None
    except Exception as exc:  # pillow-heif raises ValueError, RuntimeError, ...
        raise ApiError(400, "invalid_image", f"{label}: corrupt HEIC header ({exc})") from None


def _header_size(data: bytes, label: str) -> tuple[int, int]:
    """(width, height) from the header alone (PIL reads pixels lazily)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return int(img.size[0]), int(img.size[1])
    except Image.DecompressionBombError as exc:
        raise ApiError(413, "image_too_large", f"{label}: {exc}") from None
    except UnidentifiedImageError:
        raise ApiError(415, "unsupported_media_type", f"{label}: not a readable image") from None
    except Exception as exc:  # a broken header: PIL raises many types
        raise ApiError(400, "invalid_image", f"{label}: corrupt image header ({exc})") from None
