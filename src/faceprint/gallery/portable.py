"""Export a gallery to one portable file, and import it into another gallery.

The file is a zip archive::

    gallery.json          {"format": "faceprint-gallery", "version": 1, "pack", "dim",
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
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint.errors import GalleryError, IdentityExistsError, PackMismatchError
from faceprint.gallery.store import GalleryStore, TemplateRow, utc_now

__all__ = ["FORMAT", "FORMAT_VERSION", "export_gallery", "import_gallery"]

FORMAT = "faceprint-gallery"
FORMAT_VERSION = 1


def export_gallery(store: GalleryStore, pack: str, dim: int, path: Path) -> Path:
    """Write the whole gallery to the zip file ``path``; returns ``path``."""
    idents, temps = store.export_rows()
    position = {row[0]: i for i, row in enumerate(idents)}
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "pack": pack,
        "dim": dim,
        "exported_at": utc_now(),
        "identities": [
            {"name": r[1], "metadata": json.loads(r[2]), "created_at": r[3], "updated_at": r[4]}
            for r in idents
        ],
        "templates": [],
    }
    vecs = np.frombuffer(b"".join(t[1] for t in temps), dtype="<f4").reshape(len(temps), dim)
    tmp = path.with_name(path.name + ".tmp")
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
    tmp.replace(path)
    return path


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


def _read(
    path: Path, dim: int, pack: str
) -> tuple[dict[str, Any], npt.NDArray[np.float32], zipfile.ZipFile]:
    try:
        zf = zipfile.ZipFile(path)
        doc = json.loads(zf.read("gallery.json"))
        vecs = np.load(io.BytesIO(zf.read("embeddings.npy")), allow_pickle=False)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise GalleryError(f"{path}: not a faceprint gallery export ({exc})") from exc
    if doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
        raise GalleryError(
            f"{path}: format {doc.get('format')!r} version {doc.get('version')!r} is not "
            f"{FORMAT!r} version {FORMAT_VERSION}"
        )
    if doc.get("pack") != pack or doc.get("dim") != dim:
        raise PackMismatchError(
            f"{path} holds embeddings of pack {doc.get('pack')!r} ({doc.get('dim')}-d); this "
            f"gallery is of pack {pack!r} ({dim}-d): import into a gallery of that pack"
        )
    if vecs.shape != (len(doc["templates"]), dim):
        raise GalleryError(
            f"{path}: embeddings.npy has shape {vecs.shape}, expected "
            f"({len(doc['templates'])}, {dim})"
        )
    return doc, vecs.astype(np.float32), zf


def import_gallery(store: GalleryStore, pack: str, dim: int, path: Path, *, append: bool) -> int:
    """Add the identities and templates of the export ``path`` in one transaction."""
    doc, vecs, zf = _read(path, dim, pack)
    with zf, store.transaction() as cur:
        ids = [_import_identity(store, cur, ident, append) for ident in doc["identities"]]
        rows: list[TemplateRow] = []
        for t, vec in zip(doc["templates"], vecs):
            thumb = None if t.get("thumbnail") is None else zf.read(t["thumbnail"])
            box = None if t.get("box") is None else tuple(float(v) for v in t["box"])
            rows.append((ids[t["identity"]], vec.astype("<f4").tobytes(), t["source"], box, thumb))  # type: ignore[arg-type]
        store.insert_templates(cur, rows, pack, utc_now())
    return len(rows)


def _import_identity(store: GalleryStore, cur: Any, ident: dict[str, Any], append: bool) -> int:
    name = ident["name"]
    found = store.identity_id(cur, name)
    if found is not None:
        if not append:
            raise IdentityExistsError(
                f"identity {name!r} exists already; import with append=True (--append) to add "
                "its templates to it"
            )
        return found
    cur.execute(
        "INSERT INTO identities(name, metadata, created_at, updated_at) VALUES (?,?,?,?)",
        (name, json.dumps(ident.get("metadata", {})), ident["created_at"], ident["updated_at"]),
    )
    return int(cur.lastrowid)
