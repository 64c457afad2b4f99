"""Re-clustering the library's faces without undoing anything a user said.

Every face with a person (named by the user, or automatically) is passed to
:func:`faceprint.cluster.cluster_faces` as *fixed* with its person's label, and every "not this
person" as a *cannot-link* pair, so a run never moves a named face and never puts a rejected
face back with that person. Free faces that the algorithm joins to a person's faces are named
automatically (state ``auto``); the others form unnamed clusters (new ids each run) or stay
unclustered. Faces a user took out of an unnamed cluster are kept out of clustering.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from faceprint.library.store import LibraryStore
from faceprint.library.types import ClusterReport

if TYPE_CHECKING:
    from faceprint.pipeline import EmbeddingSpace

__all__ = ["DEFAULT_MIN_SIZE", "DEFAULT_QUALITY_FLOOR", "recluster"]

#: smallest unnamed cluster listed; smaller groups stay unclustered
DEFAULT_MIN_SIZE = 2
#: faces below this quality (see :mod:`faceprint.library.quality`) are not clustered
DEFAULT_QUALITY_FLOOR = 0.2

IntArray = npt.NDArray[np.int64]


@dataclass(eq=False)
class _Faces:
    ids: IntArray
    embeddings: npt.NDArray[np.float32]
    quality: npt.NDArray[np.float32]
    person: IntArray  # person id or -1


def recluster(
    store: LibraryStore,
    *,
    threshold: float | None,
    min_size: int,
    quality_floor: float,
    method: str,
    space: EmbeddingSpace,
) -> ClusterReport:
    """Cluster the library's faces (see the module docstring)."""
    from faceprint.cluster import cluster_faces

    start = time.perf_counter()
    faces, excluded = _load(store)
    people = np.unique(faces.person[faces.person >= 0])
    label_of = {int(p): i for i, p in enumerate(people)}
    fixed = np.asarray([label_of.get(int(p), -1) for p in faces.person], np.int64)
    result = cluster_faces(
        faces.embeddings,
        threshold=threshold,
        min_size=min_size,
        quality=faces.quality,
        quality_floor=quality_floor,
        fixed=fixed,
        cannot_link=_cannot_link(store, faces.ids, label_of),
        method=method,
        space=space,
    )
    labels = np.asarray(result.labels, np.int64)
    with store.transaction() as cur:
        counts = _write(cur, faces, labels, fixed, people)
    return ClusterReport(
        faces=len(faces.ids),
        fixed=int((fixed >= 0).sum()),
        clusters=counts[0],
        clustered=counts[1],
        named=counts[2],
        unclustered=int(((labels < 0) & (fixed < 0)).sum()),
        excluded=excluded,
        seconds=time.perf_counter() - start,
    )


def _load(store: LibraryStore) -> tuple[_Faces, int]:
    rows = store.query(
        "SELECT id, embedding, quality, person_id FROM faces WHERE id NOT IN "
        "(SELECT face_id FROM rejections WHERE person_id IS NULL) ORDER BY id"
    )
    excluded = int(
        store.scalar("SELECT COUNT(DISTINCT face_id) FROM rejections WHERE person_id IS NULL")
    )
    dim = len(rows[0][1]) // 4 if rows else 0
    emb = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), dim)
    return (
        _Faces(
            ids=np.asarray([r[0] for r in rows], np.int64),
            embeddings=emb,
            quality=np.asarray([r[2] for r in rows], np.float32),
            person=np.asarray([-1 if r[3] is None else r[3] for r in rows], np.int64),
        ),
        excluded,
    )


def _cannot_link(
    store: LibraryStore, ids: IntArray, label_of: dict[int, int]
) -> list[tuple[int, int]]:
    index = {int(f): i for i, f in enumerate(ids)}
    pairs = store.query("SELECT face_id, person_id FROM rejections WHERE person_id IS NOT NULL")
    return [
        (index[int(f)], label_of[int(p)])
        for f, p in pairs
        if int(f) in index and int(p) in label_of
    ]


def _write(
    cur: sqlite3.Cursor, faces: _Faces, labels: IntArray, fixed: IntArray, people: IntArray
) -> tuple[int, int, int]:
    """Store the new clusters; returns (unnamed clusters, free faces clustered, auto-named)."""
    hidden = {  # faces of hidden unnamed groups: a new group mostly of them stays hidden
        int(r[0])
        for r in cur.execute(
            "SELECT f.id FROM faces f JOIN clusters c ON c.id = f.cluster_id "
            "WHERE c.hidden = 1 AND c.person_id IS NULL"
        )
    }
    cur.execute("DELETE FROM clusters WHERE person_id IS NULL")
    person_cluster = {int(p): LibraryStore.person_cluster(cur, int(p)) for p in people}
    person_of_label = {int(i): int(p) for i, p in enumerate(people)}
    new_cluster: dict[int, int] = {}
    clustered = named = 0
    free = np.flatnonzero(fixed < 0)
    for i in free:
        label, fid = int(labels[i]), int(faces.ids[i])
        if label < 0:
            cur.execute("UPDATE faces SET cluster_id = NULL WHERE id = ?", (fid,))
        elif label in person_of_label:
            pid = person_of_label[label]
            cur.execute(
                "UPDATE faces SET person_id = ?, cluster_id = ?, state = 'auto' WHERE id = ?",
                (pid, person_cluster[pid], fid),
            )
            named += 1
        else:
            if label not in new_cluster:
                new_cluster[label] = int(
                    cur.execute("INSERT INTO clusters DEFAULT VALUES").lastrowid or 0
                )
            cur.execute("UPDATE faces SET cluster_id = ? WHERE id = ?", (new_cluster[label], fid))
            clustered += 1
    if hidden:
        _keep_hidden(cur, hidden, new_cluster.values())
    return len(new_cluster), clustered, named


def _keep_hidden(cur: sqlite3.Cursor, hidden: set[int], clusters: Iterable[int]) -> None:
    for cid in clusters:
        ids = [int(r[0]) for r in cur.execute("SELECT id FROM faces WHERE cluster_id = ?", (cid,))]
        if 2 * sum(i in hidden for i in ids) > len(ids):
            cur.execute("UPDATE clusters SET hidden = 1 WHERE id = ?", (cid,))
