"""Browsing a large library a page at a time, and the corrections a people page needs.

A people page shows one face per cluster (its best), largest first, searchable by name and a
page at a time; a cluster's faces and the faces in no cluster are paged too, so a library of
50,000 faces answers each request with a few dozen rows. The corrections are reversible:
:func:`split_faces` undoes a merge (the faces that came in leave again, with any template they
gave the gallery), :func:`restore_face` undoes "not them", :func:`set_hidden` hides a cluster
and shows it again. :func:`suggestions` lists the clusters whose mean face is nearest to one
cluster's ("is this the same person?").
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceprint.errors import GalleryError, InvalidArgumentError, RecordNotFoundError
from faceprint.gallery import Gallery
from faceprint.library.queries import face_records
from faceprint.library.store import LibraryStore
from faceprint.library.types import FaceRecord

__all__ = [
    "ClusterCard",
    "Suggestion",
    "cluster_faces",
    "new_cluster",
    "people_page",
    "restore_face",
    "set_hidden",
    "split_faces",
    "suggestions",
    "unclustered_page",
]

#: the most rows one page may hold
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class ClusterCard:
    """One cluster as a people page shows it: its size, name and best face."""

    id: int
    size: int
    name: str | None
    cover: int | None
    hidden: bool


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A cluster that may be the same person: ``similarity`` of the two mean faces."""

    card: ClusterCard
    similarity: float


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidArgumentError(f"limit must be 1-{MAX_PAGE} and offset >= 0")


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def people_page(
    store: LibraryStore, *, query: str = "", limit: int = 48, offset: int = 0, hidden: bool = False
) -> tuple[int, list[ClusterCard]]:
    """(clusters matching, one page of them): largest first, named before unnamed on a tie.

    ``query`` keeps the named clusters whose name contains it (any case); ``hidden`` lists the
    hidden clusters instead of the shown ones.
    """
    _check_page(limit, offset)
    where = "c.hidden = ?"
    args: list[object] = [int(hidden)]
    if query.strip():
        where += " AND pe.name LIKE ? ESCAPE '\\'"
        args.append(_like(query.strip()))
    base = (
        "FROM clusters c JOIN faces f ON f.cluster_id = c.id "
        f"LEFT JOIN people pe ON pe.id = c.person_id WHERE {where} GROUP BY c.id"
    )
    total = int(store.query(f"SELECT COUNT(*) FROM (SELECT c.id {base})", args)[0][0])
    rows = store.query(
        f"SELECT c.id, pe.name, COUNT(f.id) AS n, c.hidden {base} "
        "ORDER BY n DESC, pe.name IS NULL, c.id LIMIT ? OFFSET ?",
        [*args, limit, offset],
    )
    covers = _covers(store, [int(r[0]) for r in rows])
    return total, [
        ClusterCard(int(cid), int(n), name, covers.get(int(cid)), bool(h))
        for cid, name, n, h in rows
    ]


def _covers(store: LibraryStore, ids: Sequence[int]) -> dict[int, int]:
    """The best-quality face of each cluster."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = store.query(
        f"SELECT cluster_id, id FROM faces WHERE cluster_id IN ({marks}) "
        "ORDER BY cluster_id, quality DESC, id",
        list(ids),
    )
    covers: dict[int, int] = {}
    for cid, fid in rows:
        covers.setdefault(int(cid), int(fid))
    return covers


def _card(store: LibraryStore, cluster_id: int) -> ClusterCard:
    rows = store.query(
        "SELECT c.id, pe.name, COUNT(f.id), c.hidden FROM clusters c "
        "LEFT JOIN faces f ON f.cluster_id = c.id LEFT JOIN people pe ON pe.id = c.person_id "
        "WHERE c.id = ? GROUP BY c.id",
        (int(cluster_id),),
    )
    if not rows:
        raise RecordNotFoundError(f"no cluster {cluster_id} (see `faceprint library clusters`)")
    cid, name, n, hidden = rows[0]
    return ClusterCard(
        int(cid), int(n), name, _covers(store, [int(cid)]).get(int(cid)), bool(hidden)
    )


def cluster_faces(
    store: LibraryStore, cluster_id: int, *, limit: int = 60, offset: int = 0
) -> tuple[ClusterCard, list[FaceRecord]]:
    """The cluster and one page of its faces, best quality first."""
    _check_page(limit, offset)
    card = _card(store, cluster_id)
    ids = [
        int(r[0])
        for r in store.query(
            "SELECT id FROM faces WHERE cluster_id = ? ORDER BY quality DESC, id LIMIT ? OFFSET ?",
            (int(cluster_id), limit, offset),
        )
    ]
    return card, _faces_by_id(store, ids)


def _faces_by_id(store: LibraryStore, ids: Sequence[int]) -> list[FaceRecord]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    found = {f.id: f for f in face_records(store, f"f.id IN ({marks})", tuple(ids))}
    return [found[i] for i in ids if i in found]


def unclustered_page(
    store: LibraryStore, *, limit: int = 60, offset: int = 0
) -> tuple[int, list[FaceRecord]]:
    """(faces in no cluster and with no name, one page of them): best quality first."""
    _check_page(limit, offset)
    # the partial index of free faces (schema v2); SQLite's planner would pick faces_person
    free = "faces INDEXED BY faces_free WHERE cluster_id IS NULL AND person_id IS NULL"
    total = int(store.query(f"SELECT COUNT(*) FROM {free}")[0][0])
    ids = [
        int(r[0])
        for r in store.query(
            f"SELECT id FROM {free} ORDER BY quality DESC, id LIMIT ? OFFSET ?",
            (limit, offset),
        )
    ]
    return total, _faces_by_id(store, ids)


def set_hidden(store: LibraryStore, cluster_id: int, hidden: bool) -> ClusterCard:
    """Hide a cluster from the people page (or show it again); its faces stay as they are."""
    with store.transaction() as cur:
        done = cur.execute(
            "UPDATE clusters SET hidden = ? WHERE id = ?", (int(hidden), int(cluster_id))
        ).rowcount
    if not done:
        raise RecordNotFoundError(f"no cluster {cluster_id}")
    return _card(store, cluster_id)


def new_cluster(store: LibraryStore, face_ids: Sequence[int]) -> int:
    """Put faces that are in no cluster and have no name into a new cluster of their own."""
    ids = [int(i) for i in face_ids]
    if not ids:
        raise InvalidArgumentError("no face given")
    marks = ",".join("?" * len(ids))
    with store.transaction() as cur:
        rows = cur.execute(
            f"SELECT id, cluster_id, person_id FROM faces WHERE id IN ({marks})", ids
        ).fetchall()
        missing = set(ids) - {int(r[0]) for r in rows}
        if missing:
            raise RecordNotFoundError(f"no face {min(missing)} in the library")
        if any(r[1] is not None or r[2] is not None for r in rows):
            raise InvalidArgumentError("only faces in no cluster can start a new one")
        cid = int(cur.execute("INSERT INTO clusters (person_id) VALUES (NULL)").lastrowid or 0)
        cur.execute(
            f"UPDATE faces SET cluster_id = ?, state = 'auto' WHERE id IN ({marks})", [cid, *ids]
        )
    return cid


def split_faces(store: LibraryStore, gallery: Gallery, face_ids: Sequence[int]) -> int:
    """Undo a merge: the faces leave their cluster (and person, with any template they gave
    the gallery) for a new unnamed cluster; returns its id."""
    ids = [int(i) for i in face_ids]
    if not ids:
        raise InvalidArgumentError("no face given")
    marks = ",".join("?" * len(ids))
    rows = store.query(f"SELECT id, template_id FROM faces WHERE id IN ({marks})", ids)
    missing = set(ids) - {int(r[0]) for r in rows}
    if missing:
        raise RecordNotFoundError(f"no face {min(missing)} in the library")
    for _, template in rows:
        if template is not None:
            with contextlib.suppress(GalleryError):  # removed meanwhile by the gallery's tools
                gallery.remove_template(int(template))
    with store.transaction() as cur:
        cid = int(cur.execute("INSERT INTO clusters (person_id) VALUES (NULL)").lastrowid or 0)
        cur.execute(
            f"UPDATE faces SET cluster_id = ?, person_id = NULL, state = 'auto', "
            f"template_id = NULL WHERE id IN ({marks})",
            [cid, *ids],
        )
    return cid


def restore_face(store: LibraryStore, face_id: int, cluster_id: int) -> None:
    """Undo "not them": the face returns to ``cluster_id`` (and its person, if named)."""
    with store.transaction() as cur:
        row = cur.execute(
            "SELECT person_id FROM clusters WHERE id = ?", (int(cluster_id),)
        ).fetchone()
        if row is None:
            raise RecordNotFoundError(f"no cluster {cluster_id}")
        person = row[0]
        done = cur.execute(
            "UPDATE faces SET cluster_id = ?, person_id = ?, state = ? WHERE id = ?",
            (int(cluster_id), person, "confirmed" if person is not None else "auto", int(face_id)),
        ).rowcount
        if not done:
            raise RecordNotFoundError(f"no face {face_id} in the library")
        cur.execute(
            "DELETE FROM rejections WHERE face_id = ? AND IFNULL(person_id, -1) = IFNULL(?, -1)",
            (int(face_id), person),
        )


def suggestions(store: LibraryStore, cluster_id: int, *, k: int = 5) -> list[Suggestion]:
    """The ``k`` shown clusters nearest to ``cluster_id`` by the cosine of their mean faces,
    nearest first (two named people are never suggested for each other)."""
    _card(store, cluster_id)
    order, means, named, hidden = _mean_faces(store)
    at = int(np.searchsorted(order, int(cluster_id)))
    if at >= len(order) or order[at] != int(cluster_id):
        return []  # a cluster without faces
    sims = means @ means[at]
    skip = hidden | ({int(cluster_id)} | (named if int(cluster_id) in named else set()))
    ranked = [int(i) for i in np.argsort(-sims) if int(order[i]) not in skip]
    return [Suggestion(_card(store, int(order[i])), float(sims[i])) for i in ranked[:k]]


def _mean_faces(
    store: LibraryStore,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], set[int], set[int]]:
    """(cluster ids ascending, their unit mean embeddings, named ids, hidden ids), computed
    once per state of the rows (a people page asks for suggestions at every click)."""
    version = store.version()
    cached = store.derived.get("mean_faces")
    if cached is not None and cached[0] == version:
        return cached[1]  # type: ignore[return-value]
    rows = store.query(
        "SELECT f.cluster_id, f.embedding FROM faces f WHERE f.cluster_id IS NOT NULL"
    )
    flags = store.query("SELECT id, person_id IS NOT NULL, hidden FROM clusters")
    named = {int(r[0]) for r in flags if r[1]}
    hidden = {int(r[0]) for r in flags if r[2]}
    if not rows:
        found = (np.zeros(0, np.int64), np.zeros((0, 1), np.float32), named, hidden)
    else:
        ids = np.asarray([int(r[0]) for r in rows])
        emb = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
        by_cluster = np.argsort(ids, kind="stable")
        order, start = np.unique(ids[by_cluster], return_index=True)
        sums = np.add.reduceat(emb[by_cluster], start)
        means = (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(
            np.float32
        )
        found = (order, means, named, hidden)
    store.derived["mean_faces"] = (version, found)
    return found
