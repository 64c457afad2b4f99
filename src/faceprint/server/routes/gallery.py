"""Gallery export (one portable zip) and import (checked before anything is read: size,
member names, expanded size)."""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from faceprint.errors import FaceprintError
from faceprint.gallery import Gallery
from faceprint.server import schemas
from faceprint.server.config import Limits
from faceprint.server.errors import ApiError
from faceprint.server.state import AdminCaller, Caller, get_state
from faceprint.server.uploads import save_limited

router = APIRouter(tags=["gallery"])

#: the only member names a gallery export holds
MEMBER = re.compile(r"^(gallery\.json|embeddings\.npy|thumbnails/\d{1,9}\.jpg)$")
#: expansion ratio above which a large member counts as a zip bomb
MAX_RATIO = 200
LARGE = 1024 * 1024


def check_archive(path: Path, limits: Limits) -> None:
    """Refuse anything but a plain gallery export: not a zip, unsafe or unexpected member
    names (path traversal, absolute paths), or more expanded bytes than allowed."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ApiError(
            400, "invalid_archive", "archive: not a zip file (expected a faceprint gallery export)"
        ) from None
    total = 0
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name).parts
        if name.startswith(("/", "\\")) or ".." in parts or "\\" in name or ":" in name:
            raise ApiError(
                400,
                "invalid_archive",
                f"archive: unsafe member name {name[:80]!r} (path traversal)",
            )
        if not MEMBER.match(name):
            raise ApiError(
                400,
                "invalid_archive",
                f"archive: unexpected member {name[:80]!r}; not a faceprint gallery export",
            )
        total += info.file_size
        if info.file_size > LARGE and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ApiError(
                413,
                "archive_too_large",
                f"archive: member {name!r} expands {info.file_size // max(info.compress_size, 1)}x (zip bomb)",
            )
    if total > limits.max_archive_expanded_bytes:
        raise ApiError(
            413,
            "archive_too_large",
            f"archive: expands to {total} bytes, over the limit of {limits.max_archive_expanded_bytes}",
        )


def _import(gallery: Gallery, path: Path, append: bool) -> int:
    try:
        return gallery.import_from(path, append=append)
    except FaceprintError as exc:  # never show the server's scratch path to the client
        text = str(exc).replace(str(path), "archive")
        raise type(exc)(text) from None
    except (KeyError, IndexError, TypeError, AttributeError) as exc:  # a malformed gallery.json
        raise ApiError(
            400, "invalid_archive", f"archive: malformed gallery.json ({type(exc).__name__}: {exc})"
        ) from None


@router.get(
    "/gallery/export",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "the gallery export"}},
)
async def export(request: Request, caller: Caller = AdminCaller) -> FileResponse:
    """Every person and template (embeddings, metadata, thumbnails) as one zip file."""
    state = get_state(request)
    scratch = state.config.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=scratch, prefix="export-", suffix=".zip")
    os.close(fd)
    path = Path(name)
    try:
        await state.index(state.gallery.export_to, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type="application/zip",
        filename="gallery.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.post("/gallery/import", response_model=schemas.ImportOut)
async def import_(
    request: Request,
    archive: Annotated[UploadFile, File(description="a zip written by GET /v1/gallery/export")],
    append: Annotated[bool, Form(description="add templates to people who exist already")] = False,
    caller: Caller = AdminCaller,
) -> schemas.ImportOut:
    """Add the people of an export (all or nothing)."""
    state = get_state(request)
    limits = state.config.limits
    scratch = state.config.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="import-") as tmp:
        path = Path(tmp) / "archive.zip"
        await save_limited(archive, path, limits.max_archive_bytes, "archive")
        await state.index(check_archive, path, limits)
        imported = await state.index(_import, state.gallery, path, append)
    return schemas.ImportOut(imported=imported)
