"""Export a gallery to one portable file, and import it into another gallery.

The file is a zip archive::

    gallery.json          {"format": "faceprint-gallery", "version": 1, "pack", "dim", "augment",
                           "identities": [{name, metadata, created_at, updated_at}],
                           "templates": [{identity (index into identities), source, box,
                                          pack, created_at, thumbnail (member name or null)}]}
    embeddings.npy        float32 (N, dim), one row per template, in "templates" order
    thumbnails/NNNNNNN.jpg

Nothing in it is executable (no pickle); it opens with any zip tool and ``numpy.load``.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from faceprint.errors import (
    FaceprintError,
    GalleryError,
    IdentityExistsError,
    InvalidArgumentError,
    PackMismatchError,
    StorageError,
    map_exceptions,
)
from faceprint.gallery.enroll import clean_name
from faceprint.gallery.store import GalleryStore, TemplateRow, utc_now
from faceprint.imageio import printable
from faceprint.pipeline import AUGMENTS, Augment, EmbeddingSpace

__all__ = ["FORMAT", "FORMAT_VERSION", "export_gallery", "import_gallery"]

FORMAT = "faceprint-gallery"
FORMAT_VERSION = 1


def export_gallery(
    store: GalleryStore, pack: str, dim: int, path: Path, augment: str = "none"
) -> Path:
    """Write the whole gallery to the zip file ``path``; returns ``path``."""
    idents, temps = store.export_rows()
    position = {row[0]: i for i, row in enumerate(idents)}
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "pack": pack,
        "dim": dim,
        "augment": augment,
        "exported_at": utc_now(),
        "identities": [
            {"name": r[1], "metadata": json.loads(r[2]), "created_at": r[3], "updated_at": r[4]}
            for r in idents
        ],
        "templates": [],
    }
    vecs = np.frombuffer(b"".join(t[1] for t in temps), dtype="<f4").reshape(len(temps), dim)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with map_exceptions(
            {OSError: StorageError}, source=printable(path), what="write the export"
        ):
            _write_zip(tmp, temps, position, doc, vecs)
            _fsync(tmp)
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_zip(
    tmp: Path,
    temps: list[tuple[Any, ...]],
    position: dict[int, int],
    doc: dict[str, Any],
    vecs: npt.NDArray[np.float32],
) -> None:
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, t in enumerate(temps):
            thumb = None if t[8] is None else f"thumbnails/{i:07d}.jpg"
            if thumb is not None:
                zf.writestr(zipfile.ZipInfo(thumb), bytes(t[8]), compress_type=zipfile.ZIP_STORED)
            doc["templates"].append(_template_doc(t, position[t[0]], thumb))
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(vecs, dtype=np.float32), allow_pickle=False)
        zf.writestr("embeddings.npy", buf.getvalue())
        zf.writestr("gallery.json", json.dumps(doc, ensure_ascii=False, indent=1))


def _fsync(path: Path) -> None:
    """Flush ``path`` to the disk, so that the rename that publishes it never exposes a file
    whose content a crash could still lose."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _template_doc(t: tuple[Any, ...], identity: int, thumb: str | None) -> dict[str, Any]:
    box = None if t[3] is None else [t[3], t[4], t[5], t[6]]
    return {
        "identity": identity,
        "source": t[2],
        "box": box,
        "pack": t[7],
        "created_at": t[9],
        "thumbnail": thumb,
    }


#: largest accepted ``gallery.json`` (uncompressed), in bytes
MAX_JSON_BYTES = 256 * 1024 * 1024
#: largest accepted thumbnail member, in bytes
MAX_THUMBNAIL_BYTES = 1024 * 1024
#: an embedding row is accepted when its L2 norm is within this of 1 (exports are unit rows)
NORM_TOLERANCE = 1e-3
_THUMBNAIL = re.compile(r"thumbnails/[0-9]{7,}\.jpg")


@dataclass(frozen=True, eq=False, slots=True)
class _Archive:
    """An export read and validated in full, before anything is written."""

    identities: list[_IdentityDoc]
    templates: list[_TemplateDoc]
    vectors: npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class _IdentityDoc:
    name: str
    metadata: str
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class _TemplateDoc:
    identity: int
    source: str
    box: tuple[float, float, float, float] | None
    thumbnail: bytes | None


def _bad(path: Path, why: str) -> GalleryError:
    return GalleryError(
        f"{printable(path)}: not a valid faceprint gallery export ({why})", source=path
    )


def _read(path: Path, dim: int, pack: str, augment: str = "none") -> _Archive:
    """Open, check and decode the whole export ``path``; nothing is trusted."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = _members(zf, path)
            doc = _json_doc(zf, members, path)
            _check_header(doc, path, dim, pack, augment)
            identities = _identities(doc, path)
            templates = _templates(doc, len(identities), zf, members, path)
            vectors = _vectors(zf, members, path, len(templates), dim)
    except FaceprintError:
        raise
    except Exception as exc:  # whatever zipfile, zlib or NumPy raise on untrusted bytes
        raise _bad(path, _reason(exc)) from exc
    return _Archive(identities, templates, vectors)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text


def _members(zf: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name; unsafe or unexpected names are refused (zip slip)."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = info.filename
        if name.endswith("/") and name.rstrip("/") == "thumbnails":
            continue
        expected = name in ("gallery.json", "embeddings.npy") or _THUMBNAIL.fullmatch(name)
        if not expected:
            raise _bad(path, f"unexpected member {printable(name)!r}")
        if name in members:
            raise _bad(path, f"member {name!r} appears twice")
        members[name] = info
    for required in ("gallery.json", "embeddings.npy"):
        if required not in members:
            raise _bad(path, f"member {required!r} is missing")
    return members


def _member_bytes(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: Path) -> bytes:
    """A member's bytes, refusing more than ``limit`` (declared or actually inflated)."""
    if info.file_size > limit:
        raise _bad(path, f"{info.filename} declares {info.file_size} bytes, over {limit}")
    with zf.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise _bad(path, f"{info.filename} inflates to over {limit} bytes")
    return data


def _json_doc(
    zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], path: Path
) -> dict[str, Any]:
    raw = _member_bytes(zf, members["gallery.json"], MAX_JSON_BYTES, path)
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad(path, f"gallery.json is not valid JSON: {_reason(exc)}") from exc
    if not isinstance(doc, dict):
        raise _bad(path, "gallery.json is not a JSON object")
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _check_header(
    doc: dict[str, Any], path: Path, dim: int, pack: str, augment: str = "none"
) -> None:
    if doc.get("format") != FORMAT:
        raise _bad(path, f"format {doc.get('format')!r} is not {FORMAT!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _bad(path, f"version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise GalleryError(
            f"{printable(path)}: export format version {version} is newer than this faceprint "
            f"reads ({FORMAT_VERSION}); upgrade faceprint to import it",
            source=path,
        )
    theirs = doc.get("augment", "none")  # exports made before the setting hold plain embeddings
    if theirs not in AUGMENTS:
        raise _bad(path, f"augment {printable(str(theirs))!r} is not one of {', '.join(AUGMENTS)}")
    here = EmbeddingSpace(pack, cast(Augment, augment))
    holder = f"this gallery (importing {printable(path)})"
    here.check(EmbeddingSpace(str(doc.get("pack")), theirs), holder=holder, source=path)
    if doc.get("dim") != dim:
        raise PackMismatchError(
            f"{printable(path)} holds {doc.get('dim')}-d embeddings of pack {pack!r}; this "
            f"gallery's are {dim}-d: import into a gallery of that pack",
            source=path,
        )


def _list(doc: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    items = doc.get(key)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _bad(path, f"{key!r} is not a list of objects")
    return items


def _text(
    item: dict[str, Any], key: str, where: str, path: Path, default: str | None = None
) -> str:
    value = item.get(key, default)
    if not isinstance(value, str):
        raise _bad(path, f"{where}: {key!r} is not a string")
    return value


def _identities(doc: dict[str, Any], path: Path) -> list[_IdentityDoc]:
    out: list[_IdentityDoc] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(doc, "identities", path)):
        where = f"identity {i}"
        try:
            name = clean_name(item.get("name"))
        except InvalidArgumentError as exc:
            raise _bad(path, f"{where}: {exc}") from None
        if name in seen:
            raise _bad(path, f"{where}: the name {name!r} appears twice")
        seen.add(name)
        meta = item.get("metadata", {})
        if not isinstance(meta, dict):
            raise _bad(path, f"{where}: 'metadata' is not a JSON object")
        now = utc_now()
        created = _text(item, "created_at", where, path, now)
        updated = _text(item, "updated_at", where, path, created)
        out.append(_IdentityDoc(name, json.dumps(meta, ensure_ascii=False), created, updated))
    return out


def _templates(
    doc: dict[str, Any],
    n_identities: int,
    zf: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    path: Path,
) -> list[_TemplateDoc]:
    out: list[_TemplateDoc] = []
    for i, item in enumerate(_list(doc, "templates", path)):
        where = f"template {i}"
        ident = item.get("identity")
        if not isinstance(ident, int) or isinstance(ident, bool) or not 0 <= ident < n_identities:
            raise _bad(
                path, f"{where}: identity {ident!r} is not an index in 0..{n_identities - 1}"
            )
        source = _text(item, "source", where, path, "")
        out.append(
            _TemplateDoc(
                ident,
                source,
                _box(item.get("box"), where, path),
                _thumb(item, where, zf, members, path),
            )
        )
    return out


def _box(value: Any, where: str, path: Path) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    ok = isinstance(value, list) and len(value) == 4
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not ok or not all(math.isfinite(v) for v in value):
        raise _bad(path, f"{where}: 'box' is not four finite numbers")
    return (float(value[0]), float(value[1]), float(value[2]), float(value[3]))


def _thumb(
    item: dict[str, Any],
    where: str,
    zf: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    path: Path,
) -> bytes | None:
    name = item.get("thumbnail")
    if name is None:
        return None
    if not isinstance(name, str) or name not in members or not _THUMBNAIL.fullmatch(name):
        raise _bad(path, f"{where}: thumbnail {name!r} is not a member of the archive")
    return _member_bytes(zf, members[name], MAX_THUMBNAIL_BYTES, path)


def _vectors(
    zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], path: Path, n: int, dim: int
) -> npt.NDArray[np.float32]:
    limit = n * dim * 8 + 4096  # float64 rows and the .npy header at most
    raw = _member_bytes(zf, members["embeddings.npy"], limit, path)
    try:
        vecs = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _bad(path, f"embeddings.npy is not a NumPy array file: {_reason(exc)}") from exc
    if vecs.shape != (n, dim) or vecs.dtype.kind != "f":
        raise _bad(
            path, f"embeddings.npy is {vecs.dtype} {vecs.shape}, expected float ({n}, {dim})"
        )
    vecs = vecs.astype(np.float32)
    if not np.isfinite(vecs).all():
        row = int(np.nonzero(~np.isfinite(vecs).all(axis=1))[0][0])
        raise _bad(path, f"embedding {row} holds NaN or infinity")
    norms = np.linalg.norm(vecs, axis=1)
    off = np.abs(norms - 1.0) > NORM_TOLERANCE
    if off.any():
        row = int(np.nonzero(off)[0][0])
        raise _bad(
            path, f"embedding {row} has norm {norms[row]:.4g}, not 1 (unit vectors expected)"
        )
    return vecs


def import_gallery(
    store: GalleryStore, pack: str, dim: int, path: Path, *, append: bool, augment: str = "none"
) -> int:
    """Add the identities and templates of the export ``path`` in one transaction.

    The whole archive is read and checked first (member names and sizes, every field, every
    embedding finite and of unit length, identity indexes in range, names valid); the
    transaction starts only then, so a bad archive changes nothing.
    """
    archive = _read(path, dim, pack, augment)
    with store.transaction() as cur:
        ids = [_import_identity(store, cur, ident, append) for ident in archive.identities]
        rows: list[TemplateRow] = [
            (ids[t.identity], vec.astype("<f4").tobytes(), t.source, t.box, t.thumbnail)
            for t, vec in zip(archive.templates, archive.vectors)
        ]
        store.insert_templates(cur, rows, pack, utc_now())
    return len(rows)


def _import_identity(store: GalleryStore, cur: Any, ident: _IdentityDoc, append: bool) -> int:
    found = store.identity_id(cur, ident.name)
    if found is not None:
        if not append:
            raise IdentityExistsError(
                f"identity {ident.name!r} exists already; import with append=True (--append) "
                "to add its templates to it"
            )
        return found
    return store.import_identity(
        cur, ident.name, ident.metadata, ident.created_at, ident.updated_at
    )
