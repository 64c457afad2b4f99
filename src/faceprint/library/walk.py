"""Walking the photo tree (read only), hashing files and reading their EXIF header.

Symbolic links are never followed: a link whose target lies inside the root is redundant (the
target is scanned under its own path), one that leaves the root is reported as skipped, and a
link that resolves to itself or to a folder above it is reported as a symlink loop. So a tree
with links can neither be scanned twice nor loop forever, and nothing outside the root is read.
Hidden files and folders (names starting with ``.``) are left out, as photo apps do.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image

from faceprint._hashing import sha256_file
from faceprint.library.types import FileProblem

__all__ = [
    "IMAGE_EXTENSIONS",
    "ExifInfo",
    "FileStat",
    "TreeListing",
    "read_exif",
    "sha256_file",
    "walk_tree",
]

#: file name endings (lower case) of the photo formats the library indexes
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".bmp"}
)
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME_DIGITIZED = 36868
_DATETIME = 306
_ORIENTATION = 274
_HEIF = frozenset({".heic", ".heif"})


@dataclass(frozen=True, slots=True)
class FileStat:
    """An image file of the tree: ``path`` relative to the root (``/`` separators)."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class TreeListing:
    """Everything one walk found."""

    files: tuple[FileStat, ...]
    skipped: tuple[FileProblem, ...]
    errors: tuple[FileProblem, ...]


def walk_tree(root: Path) -> TreeListing:
    """Every image file under ``root`` (which must be a resolved folder), sorted by path."""
    files: list[FileStat] = []
    skipped: list[FileProblem] = []
    errors: list[FileProblem] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                found = sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            errors.append(FileProblem(_rel(root, folder), _os_reason(exc)))
            continue
        for entry in found:
            _visit(root, entry, stack, files, skipped, errors)
    files.sort(key=lambda f: f.path)
    return TreeListing(tuple(files), tuple(skipped), tuple(errors))


def _visit(
    root: Path,
    entry: os.DirEntry[str],
    stack: list[Path],
    files: list[FileStat],
    skipped: list[FileProblem],
    errors: list[FileProblem],
) -> None:
    if entry.name.startswith("."):
        return
    rel = _rel(root, Path(entry.path))
    try:
        if entry.is_symlink():
            skipped.append(FileProblem(rel, _symlink_reason(root, Path(entry.path))))
        elif entry.is_dir(follow_symlinks=False):
            stack.append(Path(entry.path))
        elif Path(entry.name).suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append(FileProblem(rel, "not a photo (file type not indexed)"))
        else:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                skipped.append(FileProblem(rel, "not a regular file"))
            else:
                files.append(FileStat(rel, st.st_size, st.st_mtime_ns))
    except OSError as exc:
        errors.append(FileProblem(rel, _os_reason(exc)))


def _symlink_reason(root: Path, link: Path) -> str:
    try:
        target = link.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports loops this way
        return "symlink loop (not followed)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (not followed)"
        return "broken symlink (its target does not exist)"
    if target == link.parent.resolve() or target in link.parent.resolve().parents:
        return "symlink loop (it points to a folder above it; not followed)"
    if target == root or root in target.parents:
        return "symlink inside the root (not followed; its target is scanned under its own path)"
    return "symlink leaving the library root (not followed)"


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.as_posix()


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "vanished during the scan"
    return f"cannot read ({exc.strerror or exc})"


@dataclass(frozen=True, slots=True)
class ExifInfo:
    """Capture time (ISO 8601, camera local time) and EXIF orientation (1..8), when present."""

    taken: str | None
    orientation: int | None


def read_exif(path: Path) -> ExifInfo:
    """The EXIF capture time and orientation of an image file (``None`` where absent or bad).

    Reads the header only (PIL opens lazily); never raises for a bad or non-EXIF file.
    """
    try:
        exif = _heif_exif(path) if path.suffix.lower() in _HEIF else _pil_exif(path)
    except (OSError, SyntaxError, ValueError, RuntimeError, Image.DecompressionBombError):
        return ExifInfo(None, None)
    sub = _exif_ifd(exif)
    raw = sub.get(_DATETIME_ORIGINAL) or sub.get(_DATETIME_DIGITIZED) or exif.get(_DATETIME)
    orientation = exif.get(_ORIENTATION)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = None
    return ExifInfo(_exif_time(raw), orientation)


def _pil_exif(path: Path) -> Image.Exif:
    with Image.open(path) as img:
        return img.getexif()


def _heif_exif(path: Path) -> Image.Exif:
    """EXIF of a HEIC/HEIF file via pillow-heif (PIL itself stays unpatched)."""
    exif = Image.Exif()
    try:
        import pillow_heif  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return exif
    raw = pillow_heif.open_heif(path).info.get("exif")
    if raw:
        exif.load(raw)
    return exif


def _exif_ifd(exif: Image.Exif) -> dict[int, object]:
    try:
        return dict(exif.get_ifd(_EXIF_IFD))
    except (OSError, SyntaxError, ValueError, KeyError, TypeError):
        return {}


def _exif_time(raw: object) -> str | None:
    """``"YYYY:MM:DD HH:MM:SS"`` → ``"YYYY-MM-DDTHH:MM:SS"``; ``None`` when not a valid time."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None
