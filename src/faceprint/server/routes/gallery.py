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
from faceprint.server.routes._route import JsonRoute
from faceprint.server.state import AdminCaller, Caller, get_state
from faceprint.server.uploads import save_limited

router = APIRouter(tags=["gallery"], route_class=JsonRoute)

#: the only member names a gallery export holds
MEMBER = re.compile(r"^(gallery\.json|embeddings\.npy|thumbnails/\d{1,9}\.jpg)$")
#: expansion ratio a member above :data:`RATIO_FLOOR` bytes may have (zip bomb guard)
MAX_RATIO = 100
#: members up to this size may expand more (tiny JSON compresses well); together they are
#: bounded by the whole archive's ratio below, so there is no size at which a bomb slips through
RATIO_FLOOR = 64 * 1024
#: the whole archive may expand to ``MAX_RATIO`` times its size plus this
ARCHIVE_SLACK = 1024 * 1024
#: largest thumbnail member (a faceprint thumbnail is a 112-pixel JPEG of a few KiB)
MAX_THUMBNAIL = 256 * 1024


def _refuse(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, f"archive: {message}")


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or "\\" in name or ":" in name:
        raise _refuse(400, "invalid_archive", f"unsafe member name {name[:80]!r} (path traversal)")
    if not MEMBER.match(name):
        raise _refuse(
            400,
            "invalid_archive",
            f"unexpected member {name[:80]!r}; not a faceprint gallery export",
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
        raise _refuse(413, "archive_too_large", f"member {name!r} expands {ratio:.0f}x (zip bomb)")
    if name.startswith("thumbnails/") and info.file_size > MAX_THUMBNAIL:
        raise _refuse(
            413, "archive_too_large",
            f"member {name!r} is {info.file_size} bytes; a thumbnail is at most {MAX_THUMBNAIL}",
        )  # fmt: skip


def check_archive(path: Path, limits: Limits) -> None:
    """Refuse anything but a plain gallery export: not a zip, unsafe or unexpected member
    names (path traversal, absolute paths), a member or the whole archive expanding more than
    :data:`MAX_RATIO` times, an oversized thumbnail, or more expanded bytes than allowed."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ApiError(
            400, "invalid_archive", "archive: not a zip file (expected a faceprint gallery export)"
        ) from None
    for info in infos:
        _check_member(info)
    total = sum(info.file_size for info in infos)
    if total > limits.max_archive_expanded_bytes:
        raise _refuse(
            413, "archive_too_large",
            f"expands to {total} bytes, over the limit of {limits.max_archive_expanded_bytes}",
        )  # fmt: skip
    allowed = MAX_RATIO * path.stat().st_size + ARCHIVE_SLACK
    if total > allowed:
        raise _refuse(
            413, "archive_too_large",
            f"expands to {total} bytes from {path.stat().st_size} (over {MAX_RATIO}x: a zip bomb)",
        )  # fmt: skip


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
