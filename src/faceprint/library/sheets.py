"""Contact sheets (a PNG grid of thumbnails with captions) and slideshow folders of symlinks."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from faceprint.errors import ImageError, InvalidArgumentError, StorageError, map_exceptions

__all__ = ["CELL", "COLUMNS", "contact_sheet", "photo_tile", "slideshow"]

#: side of one thumbnail cell, in pixels
CELL = 112
#: cells per row
COLUMNS = 8
_CAPTION = 14
_PAD = 4


def contact_sheet(
    tiles: Sequence[tuple[bytes | Image.Image | None, str]],
    *,
    title: str = "",
    columns: int = COLUMNS,
    cell: int = CELL,
) -> bytes:
    """A PNG grid of ``(image, caption)`` tiles (JPEG bytes or PIL images, ``None``: grey).

    Each tile is fitted into a ``cell`` × ``cell`` square with its caption below it; ``title``
    goes on top. An empty list gives a sheet with the title only.
    """
    cols = max(1, min(columns, len(tiles) or 1))
    rows = (len(tiles) + cols - 1) // cols
    head = _CAPTION + 2 * _PAD if title else 0
    step_y = cell + _CAPTION + _PAD
    sheet = Image.new("RGB", (cols * (cell + _PAD) + _PAD, head + rows * step_y + _PAD), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if title:
        draw.text((_PAD, _PAD), title[:200], fill="black", font=font)
    for i, (image, caption) in enumerate(tiles):
        x = _PAD + (i % cols) * (cell + _PAD)
        y = head + _PAD + (i // cols) * step_y
        sheet.paste(_fit(image, cell), (x, y))
        draw.text((x, y + cell + 1), _short(caption, cell), fill="black", font=font)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _fit(image: bytes | Image.Image | None, cell: int) -> Image.Image:
    tile = Image.new("RGB", (cell, cell), (200, 200, 200))
    if image is None:
        return tile
    try:
        with map_exceptions({OSError: ImageError, ValueError: ImageError}, what="read a thumbnail"):
            img = image if isinstance(image, Image.Image) else Image.open(io.BytesIO(image))
            img = img.convert("RGB")
            img.thumbnail((cell, cell))
    except ImageError:
        return tile
    tile.paste(img, ((cell - img.width) // 2, (cell - img.height) // 2))
    return tile


def _short(text: str, cell: int) -> str:
    limit = max(4, cell // 6)
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def photo_tile(path: Path, cell: int = CELL) -> Image.Image | None:
    """A small copy of a photo for a sheet (EXIF orientation applied), ``None`` if unreadable."""
    from faceprint.imageio import load_image

    try:
        rgb = load_image(path)
    except ImageError:
        return None
    img = Image.fromarray(rgb)
    img.thumbnail((cell, cell))
    return img


def slideshow(targets: Sequence[Path], folder: Path, *, root: Path) -> list[Path]:
    """A folder of symlinks ``0001_name.jpg`` … to ``targets`` in order (for any photo viewer).

    The folder is created; it must be empty or hold only symlinks (earlier slideshows, which are
    replaced) and must not lie inside the photo tree ``root`` (which is never written).
    """
    folder = folder.expanduser().absolute()
    resolved = folder.resolve()
    if resolved == root or root in resolved.parents:
        raise InvalidArgumentError(
            f"{folder}: the slideshow folder must not be inside the photo tree {root}"
        )
    with map_exceptions({OSError: StorageError}, source=folder, what="write the slideshow"):
        folder.mkdir(parents=True, exist_ok=True)
        existing = list(folder.iterdir())
        if any(not p.is_symlink() for p in existing):
            raise InvalidArgumentError(
                f"{folder}: not empty (it holds files that are not symlinks); choose a new folder"
            )
        for link in existing:
            link.unlink()
        width = max(4, len(str(len(targets))))
        made = []
        for i, target in enumerate(targets, 1):
            link = folder / f"{i:0{width}d}_{target.name}"
            os.symlink(target, link)
            made.append(link)
    return made
