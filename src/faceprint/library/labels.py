"""Naming people in the library, and the corrections that stick.

A person the user names becomes a gallery identity. Labelling a cluster gives that identity a
few **representative templates** (:func:`representatives`: good-quality faces that differ from
each other, at most :data:`REPRESENTATIVES` per labelling), not every face, so the gallery stays
small and its identification stays fast (faces smaller than
:data:`~faceprint.gallery.enroll.MIN_TEMPLATE_FACE` pixels never become templates: they would
match strangers), and every face of the cluster is marked as the person
(``confirmed``). The gallery operation comes first; the library's rows follow in one transaction.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import numpy.typing as npt

from faceprint.errors import (
    IdentityExistsError,
    IdentityNotFoundError,
    InvalidArgumentError,
    RecordNotFoundError,
)
from faceprint.gallery import Gallery
from faceprint.gallery.enroll import MIN_TEMPLATE_FACE
from faceprint.library.store import LibraryStore
from faceprint.names import clean_name

__all__ = [
    "REPRESENTATIVES",
    "clean_name",
    "forget_person",
    "label_cluster",
    "merge_clusters",
    "reject_face",
    "rename_person",
    "representatives",
]

#: templates a labelling adds to the person's gallery identity at most
REPRESENTATIVES = 5


def representatives(
    embeddings: npt.NDArray[np.float32], quality: npt.NDArray[np.float32], k: int = REPRESENTATIVES
) -> list[int]:
    """Up to ``k`` row indices: the best-quality face, then greedily the face farthest (lowest
    maximum cosine similarity) from those chosen, among the better-quality half."""
    n = len(embeddings)
    if n == 0:
        return []
    order = np.argsort(-quality, kind="stable")
    pool = order[: max(k, (n + 1) // 2)]
    chosen = [int(pool[0])]
    nearest = embeddings[pool] @ embeddings[pool[0]]
    while len(chosen) < min(k, len(pool)):
        pick = int(np.argmin(nearest))
        if nearest[pick] >= 0.999:  # the rest are duplicates of chosen faces
            break
        chosen.append(int(pool[pick]))
        nearest = np.maximum(nearest, embeddings[pool] @ embeddings[pool[pick]])
    return chosen


def _cluster_row(cur: sqlite3.Cursor, cluster_id: int) -> tuple[int, int | None, str | None]:
    row = cur.execute(
        "SELECT c.id, c.person_id, pe.name FROM clusters c LEFT JOIN people pe "
        "ON pe.id = c.person_id WHERE c.id = ?",
        (int(cluster_id),),
    ).fetchone()
    if row is None:
        raise RecordNotFoundError(f"no cluster {cluster_id} (see `faceprint library clusters`)")
    return int(row[0]), row[1], row[2]


def label_cluster(
    store: LibraryStore, gallery: Gallery, cluster_id: int, name: str, *, append: bool = False
) -> int:
    """Name every face of the cluster ``name``; returns the person's cluster id.

    A name that is already a person (of the library or its gallery) is refused unless
    ``append``: adding faces to someone is a choice, never a side effect of typing a name.
    """
    name = clean_name(name)
    with store.transaction() as cur:
        _, person, current = _cluster_row(cur, cluster_id)
        if current is not None and current != name:
            raise InvalidArgumentError(
                f"cluster {cluster_id} is {current!r}; use `rename` to change a person's name"
            )
        taken = cur.execute("SELECT 1 FROM people WHERE name = ?", (name,)).fetchone()
    if current is None and not append and (taken is not None or name in gallery):
        raise IdentityExistsError(
            f"{name!r} is a person already; add this cluster to them with append "
            "(--append, or the page's 'add to' choice), or choose another name"
        )
    _add_templates(store, gallery, cluster_id, name)
    with store.transaction() as cur:
        # a new person takes this cluster (its id stays); a known one absorbs it
        pid = LibraryStore.ensure_person(cur, name, None if person is not None else int(cluster_id))
        target = LibraryStore.person_cluster(cur, pid)
        cur.execute(
            "UPDATE faces SET person_id = ?, cluster_id = ?, state = 'confirmed' "
            "WHERE cluster_id = ?",
            (pid, target, int(cluster_id)),
        )
        if target != int(cluster_id):
            cur.execute(
                "DELETE FROM clusters WHERE id = ? AND person_id IS NULL", (int(cluster_id),)
            )
        cur.execute(
            "DELETE FROM rejections WHERE person_id = ? AND face_id IN "
            "(SELECT id FROM faces WHERE cluster_id = ?)",
            (pid, target),
        )
    return target


def _add_templates(store: LibraryStore, gallery: Gallery, cluster_id: int, name: str) -> None:
    rows = store.query(
        "SELECT f.id, f.embedding, f.quality, f.thumbnail, f.x1, f.y1, f.x2, f.y2, p.path "
        "FROM faces f JOIN photos p ON p.id = f.photo_id "
        "WHERE f.cluster_id = ? AND f.template_id IS NULL ORDER BY f.id",
        (int(cluster_id),),
    )
    rows = [r for r in rows if min(r[6] - r[4], r[7] - r[5]) >= MIN_TEMPLATE_FACE]
    if not rows:  # no face big enough: the person is named in the library, not in the gallery
        return
    emb = np.stack([np.frombuffer(r[1], np.float32) for r in rows])
    chosen = [rows[i] for i in representatives(emb, np.asarray([r[2] for r in rows], np.float32))]
    tids = gallery.add_embeddings(
        [name] * len(chosen),
        np.stack([np.frombuffer(r[1], np.float32) for r in chosen]),
        sources=[r[8] for r in chosen],
        boxes=np.asarray([r[4:8] for r in chosen], np.float32),
        thumbnails=[r[3] for r in chosen],
        append=True,
    )
    with store.transaction() as cur:
        cur.executemany(
            "UPDATE faces SET template_id = ? WHERE id = ?",
            [(int(t), int(r[0])) for t, r in zip(tids, chosen, strict=True)],
        )


def merge_clusters(store: LibraryStore, gallery: Gallery, into: int, other: int) -> int:
    """Move the faces of cluster ``other`` into ``into``; returns the surviving cluster id.

    When one of them is a named person the result is that person (every face confirmed);
    two different people cannot be merged (rename or forget one first).
    """
    if int(into) == int(other):
        raise InvalidArgumentError(f"cannot merge cluster {into} with itself")
    with store.transaction() as cur:
        _, _, name_a = _cluster_row(cur, into)
        _, _, name_b = _cluster_row(cur, other)
        if name_a is not None and name_b is not None and name_a != name_b:
            raise InvalidArgumentError(
                f"clusters {into} ({name_a!r}) and {other} ({name_b!r}) are two named people; "
                "rename or forget one of them first"
            )
        keep, gone = (other, into) if name_a is None and name_b is not None else (into, other)
        cur.execute("UPDATE faces SET cluster_id = ? WHERE cluster_id = ?", (int(keep), int(gone)))
        cur.execute("DELETE FROM clusters WHERE id = ? AND person_id IS NULL", (int(gone),))
    name = name_a or name_b
    return label_cluster(store, gallery, keep, name) if name is not None else int(keep)


def reject_face(store: LibraryStore, gallery: Gallery, face_id: int) -> None:
    """ "Not this person": take the face out of its person or cluster, for good."""
    rows = store.query(
        "SELECT person_id, cluster_id, template_id FROM faces WHERE id = ?", (int(face_id),)
    )
    if not rows:
        raise RecordNotFoundError(f"no face {face_id} in the library")
    person, cluster, template = rows[0]
    if person is None and cluster is None:
        raise InvalidArgumentError(f"face {face_id} is in no cluster and has no name")
    if template is not None:
        gallery.remove_template(int(template))
    with store.transaction() as cur:
        cur.execute(
            "INSERT OR IGNORE INTO rejections (face_id, person_id) VALUES (?, ?)",
            (int(face_id), person),
        )
        cur.execute(
            "UPDATE faces SET person_id = NULL, cluster_id = NULL, state = 'free', "
            "template_id = NULL WHERE id = ?",
            (int(face_id),),
        )


def rename_person(store: LibraryStore, gallery: Gallery, old: str, new: str) -> None:
    """Give person ``old`` the name ``new`` (free in the library and the gallery)."""
    new = clean_name(new)
    with store.transaction() as cur:
        pid = LibraryStore.person_id(cur, old)
        if pid is None:
            raise IdentityNotFoundError(f"no person named {old!r} in the library")
        if LibraryStore.person_id(cur, new) is not None:
            raise IdentityExistsError(f"cannot rename {old!r}: {new!r} exists already")
    if old in gallery:
        gallery.rename(old, new)
    with store.transaction() as cur:
        cur.execute("UPDATE people SET name = ? WHERE id = ?", (new, pid))


def forget_person(store: LibraryStore, gallery: Gallery, name: str) -> int:
    """Remove the person from the library and the gallery; returns the faces set free."""
    with store.transaction() as cur:
        pid = LibraryStore.person_id(cur, name)
        if pid is None:
            raise IdentityNotFoundError(f"no person named {name!r} in the library")
    if name in gallery:
        gallery.remove(name)
    with store.transaction() as cur:
        freed = cur.execute(
            "UPDATE faces SET person_id = NULL, cluster_id = NULL, state = 'free', "
            "template_id = NULL WHERE person_id = ?",
            (pid,),
        ).rowcount
        cur.execute("DELETE FROM people WHERE id = ?", (pid,))
    return int(freed)
