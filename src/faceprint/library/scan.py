"""Incremental, resumable scan of a photo tree into the library index.

1. **Walk** the tree (:func:`~faceprint.library.walk.walk_tree`: stat only).
2. **Plan**: a file whose size and mtime match its row is unchanged. A file whose size matches
   a vanished photo's, or whose mtime alone changed, is hashed: the same SHA-256 means a moved
   (or touched) photo, which keeps its faces and their names. Everything else is decoded; rows
   whose file is gone (and did not move) are deleted with their faces.
3. **Commit** moves and deletions in one transaction, then **decode** the rest on the shared
   engine (:func:`faceprint.batch.analyze_iter`: worker processes, batched embeddings,
   downscaled detection of large photos) and commit the photos in small batches, each photo
   with all its faces in the same transaction.

A scan killed at any moment (``kill -9``) leaves only whole photos in the index; the next scan
finds the committed ones unchanged and decodes the rest, so nothing is lost or counted twice.
Files that cannot be indexed are remembered with their size and mtime (``problems``), reported
again by later scans and retried once they change.
"""

from __future__ import annotations

import itertools
import logging
import resource
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.batch import ImageResult, ProgressCallback, analyze_iter
from faceprint.gallery import Gallery
from faceprint.gallery.store import utc_now
from faceprint.library.quality import face_quality, face_size
from faceprint.library.store import LibraryStore
from faceprint.library.types import FileProblem, ScanReport
from faceprint.library.walk import FileStat, read_exif, sha256_file, walk_tree
from faceprint.pipeline import DEFAULT_MAX_SIDE, Augment

__all__ = ["COMMIT_EVERY", "COMMIT_SECONDS", "ScanOptions", "scan_tree"]

logger = logging.getLogger(__name__)

#: photos per transaction while decoding (a crash loses at most this much work)
COMMIT_EVERY = 16
#: …or at least this often, in seconds
COMMIT_SECONDS = 2.0
CHANGED_DURING_SCAN = "changed during the scan (it will be indexed by the next scan)"


@dataclass(frozen=True)
class ScanOptions:
    """How to scan (see :meth:`faceprint.library.Library.scan`)."""

    pack: str
    workers: int | None = None
    max_side: int | None = DEFAULT_MAX_SIDE
    commit_every: int = COMMIT_EVERY
    progress: ProgressCallback | None = None
    cancel: threading.Event | None = None
    augment: Augment = "none"
    ray: str | None = None


@dataclass
class _Row:
    id: int
    size: int
    mtime_ns: int
    sha256: str


@dataclass
class _Plan:
    unchanged: int = 0
    touched: list[tuple[int, FileStat]] = field(default_factory=list)
    moved: list[tuple[int, FileStat]] = field(default_factory=list)
    decode: list[FileStat] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    errors: list[FileProblem] = field(default_factory=list)


@dataclass
class _Counts:
    added: int = 0
    changed: int = 0
    faces_added: int = 0
    faces_removed: int = 0
    named: int = 0
    errors: list[FileProblem] = field(default_factory=list)


def scan_tree(
    store: LibraryStore,
    gallery: Gallery,
    root: Path,
    options: ScanOptions,
    lock: threading.RLock,
) -> ScanReport:
    """Bring the index of ``store`` up to date with the tree under ``root`` (see module doc)."""
    start, cpu0 = time.perf_counter(), _cpu_seconds()
    listing = walk_tree(root)
    with lock:
        rows = _rows(store)
        problems = _problems(store)
    plan = _plan(root, listing.files, rows, problems)
    with lock:
        faces_removed = _apply_moves(store, plan, {f.path for f in listing.files})
    counts = _Counts(faces_removed=faces_removed)
    replaced = {path: row.id for path, row in rows.items()}
    _decode_all(store, gallery, root, plan.decode, replaced, options, lock, counts)
    cancelled = options.cancel is not None and options.cancel.is_set()
    return ScanReport(
        root=str(root),
        files=len(listing.files),
        unchanged=plan.unchanged + len(plan.touched),
        added=counts.added,
        changed=counts.changed,
        moved=len(plan.moved),
        deleted=len(plan.deleted),
        faces_added=counts.faces_added,
        faces_removed=counts.faces_removed,
        named=counts.named,
        errors=tuple(sorted([*listing.errors, *plan.errors, *counts.errors], key=_by_path)),
        skipped=listing.skipped,
        seconds=time.perf_counter() - start,
        cpu_seconds=_cpu_seconds() - cpu0,
        cancelled=cancelled,
    )


def _by_path(problem: FileProblem) -> str:
    return problem.path


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the engine's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _rows(store: LibraryStore) -> dict[str, _Row]:
    found = store.query("SELECT path, id, size, mtime_ns, sha256 FROM photos")
    return {p: _Row(int(i), int(s), int(m), h) for p, i, s, m, h in found}


def _problems(store: LibraryStore) -> dict[str, tuple[int, int, str]]:
    found = store.query("SELECT path, size, mtime_ns, reason FROM problems")
    return {p: (int(s), int(m), r) for p, s, m, r in found}


# --- planning ----------------------------------------------------------------------------------


def _plan(
    root: Path,
    files: Sequence[FileStat],
    rows: dict[str, _Row],
    problems: dict[str, tuple[int, int, str]],
) -> _Plan:
    plan = _Plan()
    present = {f.path for f in files}
    vanished: dict[int, list[tuple[str, _Row]]] = {}
    for path, row in rows.items():
        if path not in present:
            vanished.setdefault(row.size, []).append((path, row))
    claimed: set[int] = set()
    for f in files:
        _plan_file(root, f, rows.get(f.path), problems.get(f.path), vanished, claimed, plan)
    plan.deleted = [r.id for rs in vanished.values() for _, r in rs if r.id not in claimed]
    return plan


def _plan_file(
    root: Path,
    f: FileStat,
    row: _Row | None,
    problem: tuple[int, int, str] | None,
    vanished: dict[int, list[tuple[str, _Row]]],
    claimed: set[int],
    plan: _Plan,
) -> None:
    if row is not None and (row.size, row.mtime_ns) == (f.size, f.mtime_ns):
        plan.unchanged += 1
    elif row is None and problem is not None and problem[:2] == (f.size, f.mtime_ns):
        plan.errors.append(FileProblem(f.path, problem[2]))
    elif row is not None and row.size == f.size:
        _same_or_decode(root, f, row, plan)
    elif row is None and f.size in vanished:
        _moved_or_decode(root, f, vanished[f.size], claimed, plan)
    else:
        plan.decode.append(f)


def _hash(root: Path, f: FileStat, plan: _Plan) -> str | None:
    try:
        return sha256_file(root / f.path)
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else str(exc.strerror)
        plan.errors.append(FileProblem(f.path, reason))
        return None


def _same_or_decode(root: Path, f: FileStat, row: _Row, plan: _Plan) -> None:
    digest = _hash(root, f, plan)
    if digest == row.sha256:
        plan.touched.append((row.id, f))
    elif digest is not None:
        plan.decode.append(f)


def _moved_or_decode(
    root: Path, f: FileStat, candidates: list[tuple[str, _Row]], claimed: set[int], plan: _Plan
) -> None:
    digest = _hash(root, f, plan)
    if digest is None:
        return
    for _, row in candidates:
        if row.sha256 == digest and row.id not in claimed:
            claimed.add(row.id)
            plan.moved.append((row.id, f))
            return
    plan.decode.append(f)


def _apply_moves(store: LibraryStore, plan: _Plan, present: set[str]) -> int:
    """Commit touched, moved and deleted photos in one transaction; returns faces deleted."""
    with store.transaction() as cur:
        for pid, f in [*plan.touched, *plan.moved]:
            cur.execute(
                "UPDATE photos SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                (f.path, f.size, f.mtime_ns, pid),
            )
        removed = 0
        for pid in plan.deleted:
            removed += int(
                cur.execute("SELECT COUNT(*) FROM faces WHERE photo_id = ?", (pid,)).fetchone()[0]
            )
            cur.execute("DELETE FROM photos WHERE id = ?", (pid,))
        stale = [p for (p,) in cur.execute("SELECT path FROM problems") if p not in present]
        cur.executemany("DELETE FROM problems WHERE path = ?", [(p,) for p in stale])
    return removed


# --- decoding and committing --------------------------------------------------------------------


@dataclass(eq=False)
class _Decoded:
    stat: FileStat
    result: ImageResult
    taken: str | None
    orientation: int | None


def _decode_all(
    store: LibraryStore,
    gallery: Gallery,
    root: Path,
    todo: list[FileStat],
    replaced: dict[str, int],
    options: ScanOptions,
    lock: threading.RLock,
    counts: _Counts,
) -> None:
    if not todo:
        return
    by_source = {str(root / f.path): f for f in todo}
    results = analyze_iter(
        list(by_source),
        pack=options.pack,
        augment=options.augment,
        workers=options.workers,
        max_side=options.max_side,
        ray=options.ray,
        thumbnails=True,
        hash=True,
        ordered=False,
        progress=options.progress,
        cancel=options.cancel,
    )
    batch: list[_Decoded] = []
    last = time.monotonic()
    for result in results:
        f = by_source[result.source]
        item = _checked(root, f, result, store, lock, counts)
        if item is not None:
            batch.append(item)
        if len(batch) >= options.commit_every or time.monotonic() - last > COMMIT_SECONDS:
            _commit(store, gallery, batch, replaced, lock, counts)
            batch, last = [], time.monotonic()
    _commit(store, gallery, batch, replaced, lock, counts)


def _checked(
    root: Path,
    f: FileStat,
    result: ImageResult,
    store: LibraryStore,
    lock: threading.RLock,
    counts: _Counts,
) -> _Decoded | None:
    """The decoded photo, or ``None`` (its problem recorded) when it failed or changed."""
    path = root / f.path
    try:
        st = path.stat(follow_symlinks=False)
        changed = (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns)
    except OSError:
        changed = True
    if changed:
        counts.errors.append(FileProblem(f.path, CHANGED_DURING_SCAN))
        return None
    if not result.ok:
        reason = _reason(str(result.error), str(path))
        counts.errors.append(FileProblem(f.path, reason))
        with lock, store.transaction() as cur:
            cur.execute(
                "INSERT INTO problems (path, size, mtime_ns, reason) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET size = excluded.size, "
                "mtime_ns = excluded.mtime_ns, reason = excluded.reason",
                (f.path, f.size, f.mtime_ns, reason),
            )
        return None
    exif = read_exif(path)
    return _Decoded(f, result, exif.taken, exif.orientation)


def _reason(message: str, path: str) -> str:
    """The error message without the leading ``path: ``."""
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _commit(
    store: LibraryStore,
    gallery: Gallery,
    batch: list[_Decoded],
    replaced: dict[str, int],
    lock: threading.RLock,
    counts: _Counts,
) -> None:
    if not batch:
        return
    names = _auto_names(gallery, batch)
    now = utc_now()
    with lock, store.transaction() as cur:
        person_cache: dict[str, tuple[int, int]] = {}
        for item, item_names in zip(batch, names, strict=True):
            old = _photo_at(cur, item.stat.path)  # also one another process indexed meanwhile
            if old is not None:
                counts.faces_removed += _delete_photo(cur, old)
            if item.stat.path in replaced:
                counts.changed += 1
            else:
                counts.added += 1
            pid = _insert_photo(cur, item, now)
            named = _insert_faces(cur, pid, item.result, item_names, person_cache)
            counts.faces_added += len(item_names)
            counts.named += named
    for item in batch:  # later batches must not delete what this one inserted
        replaced.pop(item.stat.path, None)
    logger.info("committed %d photos", len(batch))


def _auto_names(gallery: Gallery, batch: list[_Decoded]) -> list[list[str | None]]:
    """Per photo, per face: the gallery identity it matches confidently, or ``None``."""
    sizes = [len(d.result.faces) if d.result.faces is not None else 0 for d in batch]
    embs = [d.result.faces.embeddings for d in batch if d.result.faces is not None]
    vecs = np.concatenate([e for e in embs if e is not None]) if sum(sizes) else None
    if vecs is None or len(gallery) == 0:
        flat: list[str | None] = [None] * sum(sizes)
    else:
        flat = [f.name for f in gallery.identify(vecs)]
    bounds = np.cumsum([0, *sizes])
    return [flat[a:b] for a, b in itertools.pairwise(bounds)]


def _photo_at(cur: sqlite3.Cursor, path: str) -> int | None:
    row = cur.execute("SELECT id FROM photos WHERE path = ?", (path,)).fetchone()
    return None if row is None else int(row[0])


def _delete_photo(cur: sqlite3.Cursor, photo_id: int) -> int:
    n = int(cur.execute("SELECT COUNT(*) FROM faces WHERE photo_id = ?", (photo_id,)).fetchone()[0])
    cur.execute("DELETE FROM photos WHERE id = ?", (photo_id,))
    return n


def _insert_photo(cur: sqlite3.Cursor, item: _Decoded, now: str) -> int:
    h, w = item.result.shape or (0, 0)
    cur.execute("DELETE FROM problems WHERE path = ?", (item.stat.path,))
    cur.execute(
        "INSERT INTO photos (path, size, mtime_ns, sha256, width, height, taken, orientation, "
        "scanned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            item.stat.path,
            item.stat.size,
            item.stat.mtime_ns,
            item.result.sha256 or "",
            w,
            h,
            item.taken,
            item.orientation,
            now,
        ),
    )
    return int(cur.lastrowid or 0)


def _insert_faces(
    cur: sqlite3.Cursor,
    photo_id: int,
    result: ImageResult,
    names: list[str | None],
    person_cache: dict[str, tuple[int, int]],
) -> int:
    """Insert the photo's faces; returns how many were named automatically."""
    faces = result.faces
    if faces is None or len(faces) == 0 or faces.embeddings is None:
        return 0
    thumbs: Sequence[bytes | None] = result.thumbnails or [None] * len(faces)
    named = 0
    for i, name in enumerate(names):
        person, cluster = _person(cur, name, person_cache) if name else (None, None)
        named += person is not None
        box = faces.boxes[i]
        cur.execute(
            "INSERT INTO faces (photo_id, idx, x1, y1, x2, y2, landmarks, score, size, quality, "
            "embedding, thumbnail, cluster_id, person_id, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                photo_id,
                i,
                *(float(v) for v in box),
                np.asarray(faces.landmarks[i], np.float32).tobytes(),
                float(faces.scores[i]),
                face_size(box),
                face_quality(box, thumbs[i]),
                np.asarray(faces.embeddings[i], np.float32).tobytes(),
                thumbs[i],
                cluster,
                person,
                "auto" if person is not None else "free",
            ),
        )
    return named


def _person(cur: sqlite3.Cursor, name: str, cache: dict[str, tuple[int, int]]) -> tuple[int, int]:
    if name not in cache:
        pid = LibraryStore.ensure_person(cur, name)
        cache[name] = (pid, LibraryStore.person_cluster(cur, pid))
    return cache[name]
