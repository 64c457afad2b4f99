"""Read queries of the library: face records, clusters largest first, photos of people."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from faceprint.errors import IdentityNotFoundError, InvalidArgumentError, RecordNotFoundError
from faceprint.library.store import LibraryStore
from faceprint.library.types import ClusterInfo, ClusterList, FaceRecord, FoundPhoto

__all__ = [
    "FACE_COLUMNS",
    "cluster_list",
    "date_bound",
    "face_records",
    "find_photos",
    "photos_by_id",
]

#: the columns :func:`face_record` reads, prefixed ``f.`` (faces) / ``p.`` (photos) / ``pe.``
FACE_COLUMNS = (
    "f.id, f.photo_id, p.path, f.x1, f.y1, f.x2, f.y2, f.score, f.size, f.quality, "
    "f.cluster_id, pe.name, f.state"
)
_FACE_FROM = (
    "FROM faces f JOIN photos p ON p.id = f.photo_id LEFT JOIN people pe ON pe.id = f.person_id"
)
#: the effective date of a photo: EXIF capture time, else its mtime (UTC), ISO 8601
EFFECTIVE_DATE = (
    "COALESCE(p.taken, strftime('%Y-%m-%dT%H:%M:%S', p.mtime_ns / 1000000000, 'unixepoch'))"
)


def face_record(row: Sequence[Any]) -> FaceRecord:
    fid, pid, path, x1, y1, x2, y2, score, size, quality, cluster, name, state = row
    return FaceRecord(
        id=int(fid),
        photo_id=int(pid),
        path=str(path),
        box=(float(x1), float(y1), float(x2), float(y2)),
        score=float(score),
        size=float(size),
        quality=float(quality),
        cluster=None if cluster is None else int(cluster),
        name=name,
        state=str(state),
    )


def face_records(
    store: LibraryStore, where: str = "1", args: tuple[Any, ...] = ()
) -> list[FaceRecord]:
    """Faces matching a SQL condition over ``f``/``p``/``pe``, by photo path then face order."""
    sql = f"SELECT {FACE_COLUMNS} {_FACE_FROM} WHERE {where} ORDER BY p.path, f.idx"
    return [face_record(r) for r in store.query(sql, args)]


def cluster_list(
    store: LibraryStore, *, limit: int | None = None, offset: int = 0, min_size: int = 1
) -> ClusterList:
    """Clusters largest first (named ones break ties first, then by id), with their faces."""
    if (limit is not None and limit < 0) or offset < 0 or min_size < 1:
        raise InvalidArgumentError("limit and offset must be >= 0 and min_size >= 1")
    rows = store.query(
        "SELECT c.id, pe.name, COUNT(f.id) AS n FROM clusters c "
        "JOIN faces f ON f.cluster_id = c.id LEFT JOIN people pe ON pe.id = c.person_id "
        "GROUP BY c.id HAVING n >= ? ORDER BY n DESC, pe.name IS NULL, c.id "
        "LIMIT ? OFFSET ?",
        (min_size, -1 if limit is None else limit, offset),
    )
    ids = [int(r[0]) for r in rows]
    faces = _faces_of_clusters(store, ids)
    clusters = tuple(
        ClusterInfo(int(cid), int(n), name, tuple(faces.get(int(cid), ()))) for cid, name, n in rows
    )
    unclustered = tuple(face_records(store, "f.cluster_id IS NULL"))
    return ClusterList(clusters, unclustered)


def _faces_of_clusters(store: LibraryStore, ids: list[int]) -> dict[int, list[FaceRecord]]:
    found: dict[int, list[FaceRecord]] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for rec in face_records(store, f"f.cluster_id IN ({marks})", tuple(part)):
            found.setdefault(rec.cluster or 0, []).append(rec)
    for recs in found.values():
        recs.sort(key=lambda r: (-r.quality, r.id))
    return found


def cluster_info(store: LibraryStore, cluster_id: int) -> ClusterInfo:
    """One cluster with its faces, best quality first."""
    row = store.query(
        "SELECT c.id, pe.name FROM clusters c LEFT JOIN people pe ON pe.id = c.person_id "
        "WHERE c.id = ?",
        (int(cluster_id),),
    )
    if not row:
        raise RecordNotFoundError(f"no cluster {cluster_id} (see `faceprint library clusters`)")
    faces = sorted(
        face_records(store, "f.cluster_id = ?", (int(cluster_id),)),
        key=lambda r: (-r.quality, r.id),
    )
    return ClusterInfo(int(cluster_id), len(faces), row[0][1], tuple(faces))


def date_bound(value: str | None, *, upper: bool) -> str | None:
    """An ISO date (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or a full date-time) as a bound
    comparable with stored dates; an upper bound includes the whole period it names."""
    if value is None:
        return None
    text = value.strip()
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2})?)?)?)?)?", text):
        raise InvalidArgumentError(
            f"date {value!r} is not YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"
        )
    text = text.replace(" ", "T")
    padded = {4: "-01-01", 7: "-01"}.get(len(text), "")
    try:
        datetime.fromisoformat(text + padded)
    except ValueError:
        raise InvalidArgumentError(f"date {value!r} is not a real date or time") from None
    return text + "\x7f" if upper else text


def _require_people(store: LibraryStore, names: Sequence[str]) -> None:
    known = {r[0] for r in store.query("SELECT name FROM people")}
    for name in names:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none yet: label a cluster first"
            raise IdentityNotFoundError(
                f"no person named {name!r} in the library (known: {listed})"
            )


def find_photos(
    store: LibraryStore,
    names: Sequence[str],
    without: Sequence[str] = (),
    date_from: str | None = None,
    date_to: str | None = None,
) -> list[FoundPhoto]:
    """Photos showing every one of ``names`` and none of ``without``, oldest first."""
    _require_people(store, [*names, *without])
    where, args = [], []
    for name in names:
        where.append(f"EXISTS (SELECT 1 {_PERSON_IN_PHOTO} AND pe.name = ?)")
        args.append(name)
    for name in without:
        where.append(f"NOT EXISTS (SELECT 1 {_PERSON_IN_PHOTO} AND pe.name = ?)")
        args.append(name)
    low, high = date_bound(date_from, upper=False), date_bound(date_to, upper=True)
    if low is not None:
        where.append(f"{EFFECTIVE_DATE} >= ?")
        args.append(low)
    if high is not None:
        where.append(f"{EFFECTIVE_DATE} <= ?")
        args.append(high)
    ids = [int(r[0]) for r in store.query(_photo_sql(" AND ".join(where or ["1"])), tuple(args))]
    return photos_by_id(store, ids)


_PERSON_IN_PHOTO = "FROM faces f2 JOIN people pe ON pe.id = f2.person_id WHERE f2.photo_id = p.id"


def _photo_sql(where: str) -> str:
    return f"SELECT p.id FROM photos p WHERE {where} ORDER BY {EFFECTIVE_DATE}, p.mtime_ns, p.path"


def photos_by_id(store: LibraryStore, ids: Sequence[int]) -> list[FoundPhoto]:
    """The photos with these ids (with their faces), oldest first."""
    found: list[FoundPhoto] = []
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        marks = ",".join("?" * len(part))
        rows = store.query(
            f"SELECT p.id, p.path, p.taken, p.mtime_ns, p.width, p.height FROM photos p "
            f"WHERE p.id IN ({marks})",
            tuple(part),
        )
        faces: dict[int, list[FaceRecord]] = {}
        for rec in face_records(store, f"f.photo_id IN ({marks})", tuple(part)):
            faces.setdefault(rec.photo_id, []).append(rec)
        found.extend(_found(r, faces.get(int(r[0]), [])) for r in rows)
    found.sort(key=lambda p: (p.taken or p.mtime, p.mtime, p.path))
    return found


def _found(row: Sequence[Any], faces: list[FaceRecord]) -> FoundPhoto:
    pid, path, taken, mtime_ns, width, height = row
    mtime = datetime.fromtimestamp(int(mtime_ns) / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return FoundPhoto(int(pid), str(path), taken, mtime, int(width), int(height), tuple(faces))
