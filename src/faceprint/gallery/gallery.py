"""The :class:`Gallery`: enrolled identities, 1:N identification and lookalike search.

A gallery is one directory::

    DIR/gallery.sqlite      the source of truth (identities, templates, settings)
    DIR/index…              the vector index, derived: rebuilt from SQLite whenever it is
                            missing, corrupt or stale (its manifest records what it was built from)

Ids in the index are template ids; identities are scored from their templates here (maximum by
default, mean as an option; see :mod:`faceprint.gallery.scoring`); the in-memory side lives in
:mod:`faceprint.gallery.live`, which also picks up changes other processes commit.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint.embed.base import l2_normalize
from faceprint.errors import (
    AmbiguousFaceError,
    GalleryError,
    IdentityExistsError,
    IdentityNotFoundError,
    ImageError,
    ModelError,
    NoFaceError,
    PackMismatchError,
)
from faceprint.gallery.enroll import EnrolmentFace, embed_for_enrolment, scan_folders
from faceprint.gallery.index.base import VectorIndex, create_index
from faceprint.gallery.live import Aggregate, LiveIndex
from faceprint.gallery.settings import GallerySettings
from faceprint.gallery.store import DB_NAME, GalleryStore, TemplateRow, utc_now
from faceprint.gallery.types import (
    EnrollReport,
    FileOutcome,
    IdentifiedFace,
    Identity,
    Match,
    Template,
    dump_metadata,
)
from faceprint.imageio import ImageInput
from faceprint.packs import DEFAULT_PACK, PackSpec, get_pack
from faceprint.pipeline import FaceAnalyzer, FaceChoice
from faceprint.types import Face, Faces

__all__ = ["Aggregate", "Gallery", "Query"]

logger = logging.getLogger(__name__)

#: query faces: ``Faces`` with embeddings, one embedding (D,), or embeddings (N, D)
Query = Faces | npt.ArrayLike

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


class Gallery:
    """Enrolled people and their face templates, in one directory.

    Open with :meth:`create` or :meth:`open`; use as a context manager (or call :meth:`close`)
    so that the index is saved. Thread-safe: one lock serialises the operations.
    """

    def __init__(self, directory: Path, store: GalleryStore) -> None:
        self.directory = directory
        self._store = store
        self.settings = GallerySettings(store)
        self._lock = threading.RLock()
        self._pack = self.settings.pack
        self._dim = self.settings.dim
        self._live = LiveIndex(directory, store, self.settings)

    # --- opening and closing ----------------------------------------------------------------
    @classmethod
    def create(
        cls,
        directory: str | Path,
        pack: str | PackSpec = DEFAULT_PACK,
        *,
        index: str = "exact",
        index_params: Mapping[str, Any] | None = None,
    ) -> Gallery:
        """A new, empty gallery in ``directory`` (created; it must not hold a gallery yet)."""
        spec = get_pack(pack)
        create_index(index, spec.dim, **dict(index_params or {}))  # validate before writing
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        settings = {
            "uuid": uuid.uuid4().hex,
            "pack": spec.name,
            "dim": spec.dim,
            "threshold": None,
            "threshold_source": "",
            "index_backend": index,
            "index_params": dict(index_params or {}),
            "created_at": utc_now(),
        }
        gallery = cls(path, GalleryStore.create(path / DB_NAME, settings))
        gallery._live.load()
        return gallery

    @classmethod
    def open(cls, directory: str | Path) -> Gallery:
        """The gallery in ``directory``; its index is loaded, or rebuilt from SQLite when it
        is missing, corrupt or stale."""
        path = Path(directory)
        gallery = cls(path, GalleryStore.open(path / DB_NAME))
        gallery._live.load()
        return gallery

    @staticmethod
    def exists(directory: str | Path) -> bool:
        """Whether ``directory`` holds a gallery."""
        return (Path(directory) / DB_NAME).is_file()

    def close(self) -> None:
        """Save the index when it changed, and close the database."""
        with self._lock:
            self._live.close()
            self._store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Gallery({str(self.directory)!r}, pack={self._pack!r}, "
            f"identities={len(self._live.names)}, templates={len(self._live.tmap.template_ids)}, "
            f"index={self._live.index.name!r})"
        )

    # --- properties -------------------------------------------------------------------------
    @property
    def pack(self) -> str:
        """Name of the model pack whose embeddings this gallery holds."""
        return self._pack

    @property
    def dim(self) -> int:
        """Embedding size."""
        return self._dim

    @property
    def index(self) -> VectorIndex:
        """The vector index of the templates (derived from SQLite)."""
        return self._live.index

    @property
    def threshold(self) -> float:
        """The threshold identification uses by default: the gallery's saved one
        (``settings.set_threshold``), else the pack's calibrated one."""
        saved = self.settings.threshold
        if saved is not None:
            return saved
        try:
            return get_pack(self._pack).threshold
        except ModelError as exc:
            raise GalleryError(
                f"pack {self._pack!r} is not registered, so its threshold is unknown; save one "
                "with gallery.settings.set_threshold(value, source=...)"
            ) from exc

    def __len__(self) -> int:
        """Number of identities."""
        with self._lock:
            self._live.sync()
            return len(self._live.names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._store.has_identity(name)

    @property
    def template_count(self) -> int:
        """Number of templates (vectors in the index)."""
        with self._lock:
            self._live.sync()
            return len(self._live.tmap.template_ids)

    # --- index ------------------------------------------------------------------------------
    def save_index(self) -> None:
        """Write the index and its manifest under the gallery directory (also done by
        :meth:`close` when the index changed)."""
        with self._lock:
            self._live.save()

    def set_index(self, backend: str, **params: Any) -> None:
        """Use another index backend (saved in the settings), rebuilt from SQLite now."""
        with self._lock:
            self._live.switch(backend, params)

    # --- reading ----------------------------------------------------------------------------
    def identities(self) -> list[Identity]:
        """Every identity, sorted by name, with its template count."""
        return self._store.identities()

    def get(self, name: str) -> Identity:
        """The identity called ``name``; :class:`IdentityNotFoundError` when there is none."""
        found = self._store.identities(name)
        if not found:
            raise IdentityNotFoundError(f"no identity named {name!r} in the gallery")
        return found[0]

    def templates(self, name: str) -> list[Template]:
        """The templates of identity ``name``, oldest first."""
        with self._store.reading() as cur:
            ident = self._store.require_identity(cur, name)
        return self._store.templates_of(ident)

    def thumbnail(self, template_id: int) -> bytes | None:
        """JPEG bytes of a template's aligned crop, or ``None`` when it has none."""
        return self._store.thumbnails([template_id]).get(int(template_id))

    # --- enrolment --------------------------------------------------------------------------
    def _check_analyzer(self, analyzer: FaceAnalyzer) -> None:
        if analyzer.pack.name != self._pack:
            raise PackMismatchError(
                f"this gallery holds embeddings of pack {self._pack!r}; use FaceAnalyzer("
                f"{self._pack!r}) (--pack {self._pack}), not pack {analyzer.pack.name!r}, or "
                "enrol into another gallery"
            )

    def enroll(
        self,
        name: str,
        images: Iterable[ImageInput],
        analyzer: FaceAnalyzer,
        *,
        face: FaceChoice = "largest",
        append: bool = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> Identity:
        """Enrol one face of each image as templates of ``name``; all or nothing.

        Args:
            name: display name (unique in the gallery).
            images: paths, bytes, arrays or PIL images; each must give one face.
            analyzer: a :class:`FaceAnalyzer` of the gallery's pack.
            face: which face of an image: ``"largest"`` (refused when the two largest are of
                similar size), ``"only"``, ``"center"`` or an index in detection order.
            append: add to an existing identity instead of refusing its name.
            metadata: a JSON object stored with a new identity (replaces it when appending).

        Raises:
            IdentityExistsError: ``name`` exists and ``append`` is false.
            ImageError / NoFaceError / AmbiguousFaceError: an image cannot give one face.
            PackMismatchError: ``analyzer`` uses another pack.
        """
        name = _clean_name(name)
        self._check_analyzer(analyzer)
        meta = None if metadata is None else dump_metadata(metadata)
        if not append and name in self:
            raise IdentityExistsError(_exists_message(name))
        faces = [embed_for_enrolment(analyzer, image, face) for image in images]
        if not faces:
            raise ValueError("enroll needs at least one image")
        self._commit_faces(name, faces, append=append, metadata=meta)
        return self.get(name)

    def _commit_faces(
        self, name: str, faces: Sequence[EnrolmentFace], *, append: bool, metadata: str | None
    ) -> IntArray:
        now = utc_now()
        with self._lock:
            with self._store.transaction() as cur:
                ident = self._store.identity_id(cur, name)
                if ident is not None and not append:
                    raise IdentityExistsError(_exists_message(name))
                if ident is None:
                    ident = self._store.insert_identity(cur, name, metadata or "{}", now)
                elif metadata is not None:
                    cur.execute(
                        "UPDATE identities SET metadata = ? WHERE id = ?", (metadata, ident)
                    )
                rows: list[TemplateRow] = [
                    (ident, _blob(f.embedding), f.source, f.box, f.thumbnail) for f in faces
                ]
                ids = self._store.insert_templates(cur, rows, self._pack, now)
                self._store.touch(cur, [ident], now)
            self._live.names[ident] = name
            vecs = np.stack([f.embedding for f in faces]).astype(np.float32)
            self._live.added(ids, np.full(len(ids), ident, np.int64), vecs)
        return ids

    def iter_enroll_folders(
        self,
        root: str | Path,
        analyzer: FaceAnalyzer,
        *,
        face: FaceChoice = "largest",
        append: bool = False,
    ) -> Iterator[FileOutcome]:
        """Enrol ``root/NAME/*`` one file at a time (one transaction per file), yielding what
        happened to each; see :meth:`enroll_folders`."""
        self._check_analyzer(analyzer)
        pairs = scan_folders(root)
        existing = {n for n in {_clean_name(p[0]) for p in pairs} if n in self}
        for name, path in pairs:
            yield self._enroll_file(_clean_name(name), path, analyzer, face, append, existing)

    def enroll_folders(
        self,
        root: str | Path,
        analyzer: FaceAnalyzer,
        *,
        face: FaceChoice = "largest",
        append: bool = False,
    ) -> EnrollReport:
        """Enrol a folder tree with one subfolder per person (the folder name is the name).

        Every file is committed on its own, so an interrupted run keeps what it finished. A
        file is skipped, with the reason in the report, when it is unreadable, has no face, or
        its face is ambiguous; a person who is enrolled already is skipped unless ``append``
        (then files enrolled before under the same name are skipped as duplicates).
        """
        return EnrollReport(
            tuple(self.iter_enroll_folders(root, analyzer, face=face, append=append))
        )

    def _enroll_file(
        self,
        name: str,
        path: Path,
        analyzer: FaceAnalyzer,
        face: FaceChoice,
        append: bool,
        existing: set[str],
    ) -> FileOutcome:
        source = f"{path.parent.name}/{path.name}"
        if name in existing and not append:
            return FileOutcome(path, name, "exists", _exists_message(name))
        if append and name in existing and source in self._sources(name):
            return FileOutcome(path, name, "duplicate", f"{source} is enrolled already")
        try:
            found = embed_for_enrolment(analyzer, path, face, source=source)
        except NoFaceError as exc:
            return FileOutcome(path, name, "no_face", str(exc))
        except AmbiguousFaceError as exc:
            return FileOutcome(path, name, "ambiguous", str(exc))
        except ImageError as exc:
            return FileOutcome(path, name, "unreadable", str(exc))
        ids = self._commit_faces(name, [found], append=True, metadata=None)
        return FileOutcome(path, name, "enrolled", "", int(ids[0]))

    def _sources(self, name: str) -> set[str]:
        with self._store.reading() as cur:
            ident = self._store.identity_id(cur, name)
        return set() if ident is None else self._store.sources_of(ident)

    def add_embeddings(
        self,
        names: Sequence[str],
        embeddings: npt.ArrayLike,
        *,
        sources: Sequence[str] | None = None,
        boxes: npt.ArrayLike | None = None,
        thumbnails: Sequence[bytes | None] | None = None,
        append: bool = False,
        pack: str | None = None,
    ) -> IntArray:
        """Bulk-enrol precomputed embeddings (one template per row) in one transaction.

        Args:
            names: identity name per row; rows may share a name (several templates).
            embeddings: (N, dim) float32, normalised here to unit rows.
            sources / boxes / thumbnails: optional per-row source file, box (N, 4) and JPEG.
            append: allow names that exist already (their templates are added to).
            pack: the pack that made the embeddings (default: the gallery's); checked.

        Returns:
            The new template ids, in row order.
        """
        vecs = self._check_embeddings(embeddings, pack)
        rows = _rows_meta(len(vecs), names, sources, boxes, thumbnails)
        unique, inverse = _unique_names(names)
        now = utc_now()
        with self._lock:
            with self._store.transaction() as cur:
                if append:
                    found = self._store.ensure_identities(cur, unique, now)
                    ident_ids = np.asarray([found[n] for n in unique], np.int64)
                    self._store.touch(cur, ident_ids.tolist(), now)
                else:
                    ident_ids = self._store.insert_identities(cur, unique, now)
                idents = ident_ids[inverse]
                tids = self._insert(cur, idents, vecs, rows, sources, now)
            self._live.names.update(zip(ident_ids.tolist(), unique))
            self._live.added(tids, idents, vecs)
        return tids

    def _insert(
        self,
        cur: Any,
        idents: IntArray,
        vecs: FloatArray,
        rows: list[tuple[str, tuple[float, float, float, float] | None, bytes | None]] | None,
        sources: Sequence[str] | None,
        now: str,
    ) -> IntArray:
        if rows is None:
            srcs = None if sources is None else [str(s) for s in sources]
            return self._store.insert_embeddings(cur, idents, vecs, srcs, self._pack, now)
        template_rows: list[TemplateRow] = [
            (int(i), _blob(v), s, bx, th) for i, v, (s, bx, th) in zip(idents, vecs, rows)
        ]
        return self._store.insert_templates(cur, template_rows, self._pack, now)

    def _check_embeddings(self, embeddings: npt.ArrayLike, pack: str | None) -> FloatArray:
        if pack is not None and pack != self._pack:
            raise PackMismatchError(
                f"embeddings of pack {pack!r} cannot join this gallery of pack {self._pack!r}; "
                "use a gallery made with that pack"
            )
        vecs = np.asarray(embeddings, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self._dim:
            raise PackMismatchError(
                f"embeddings must have shape (N, {self._dim}) for pack {self._pack!r}, "
                f"got {vecs.shape}"
            )
        norms = np.linalg.norm(vecs, axis=1)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise ValueError("embeddings must be finite and non-zero")
        return l2_normalize(vecs)

    # --- changing identities ----------------------------------------------------------------
    def rename(self, old: str, new: str) -> Identity:
        """Give identity ``old`` the name ``new`` (which must be free)."""
        new = _clean_name(new)
        with self._lock:
            with self._store.transaction() as cur:
                ident = self._store.require_identity(cur, old)
                if self._store.identity_id(cur, new) is not None:
                    raise IdentityExistsError(f"cannot rename {old!r}: {new!r} exists already")
                cur.execute(
                    "UPDATE identities SET name = ?, updated_at = ? WHERE id = ?",
                    (new, utc_now(), ident),
                )
            self._live.names[ident] = new
        return self.get(new)

    def set_metadata(self, name: str, metadata: Mapping[str, Any]) -> Identity:
        """Replace the metadata (a JSON object) of identity ``name``."""
        meta = dump_metadata(metadata)
        with self._store.transaction() as cur:
            ident = self._store.require_identity(cur, name)
            cur.execute(
                "UPDATE identities SET metadata = ?, updated_at = ? WHERE id = ?",
                (meta, utc_now(), ident),
            )
        return self.get(name)

    def remove(self, name: str, *, vacuum: bool = False) -> int:
        """Delete identity ``name`` and all its templates; returns how many templates went.

        Afterwards none of its embeddings or thumbnails remain in the gallery's files: SQLite
        zeroes deleted rows (``secure_delete``), the WAL is checkpointed and truncated, and the
        index file is rewritten. ``vacuum`` also rebuilds the database file (slow when large).
        """
        with self._lock:
            with self._store.transaction() as cur:
                ident = self._store.require_identity(cur, name)
                rows = cur.execute("SELECT id FROM templates WHERE identity_id = ?", (ident,))
                tids = np.asarray([r[0] for r in rows], np.int64)
                cur.execute("DELETE FROM identities WHERE id = ?", (ident,))
            self._live.names.pop(ident, None)
            self._live.removed(tids)
            self._scrub(vacuum)
        return len(tids)

    def remove_template(self, template_id: int, *, vacuum: bool = False) -> None:
        """Delete one template (its identity stays, possibly with no template left)."""
        with self._lock:
            with self._store.transaction() as cur:
                row = cur.execute(
                    "SELECT identity_id FROM templates WHERE id = ?", (int(template_id),)
                ).fetchone()
                if row is None:
                    raise GalleryError(f"no template with id {template_id} in the gallery")
                cur.execute("DELETE FROM templates WHERE id = ?", (int(template_id),))
                self._store.touch(cur, [int(row[0])], utc_now())
            self._live.removed(np.asarray([template_id], np.int64))
            self._scrub(vacuum)

    def _scrub(self, vacuum: bool) -> None:
        self._live.save()
        self._store.scrub(vacuum=vacuum)

    # --- identification and search -----------------------------------------------------------
    def identify(
        self,
        query: Query,
        *,
        threshold: float | None = None,
        top_k: int = 1,
        aggregate: Aggregate = "max",
    ) -> list[IdentifiedFace]:
        """Identify every query face: the best identity when its similarity reaches the
        threshold, else unknown; the ``top_k`` nearest identities come along in ``matches``.

        Args:
            query: :class:`Faces` with embeddings (e.g. ``analyzer.analyze(image)``), one
                embedding (D,) or embeddings (N, D).
            threshold: cosine threshold (default :attr:`threshold`).
            top_k: number of candidate identities per face.
            aggregate: an identity's score from its templates: ``"max"`` or ``"mean"``.
        """
        faces, vecs = self._queries(query)
        thr = self.threshold if threshold is None else float(threshold)
        with self._lock:
            matches = self._live.matches(self._live.score(vecs, top_k, aggregate), thumbnails=False)
        return [_identified(f, m, thr) for f, m in zip(faces, matches)]

    def search(
        self,
        query: Query,
        *,
        top_k: int = 5,
        aggregate: Aggregate = "max",
        thumbnails: bool = True,
    ) -> list[tuple[Match, ...]]:
        """The ``top_k`` nearest identities of each query face whatever the threshold
        ("whom does this face resemble most?"), best first, with their thumbnails."""
        _faces, vecs = self._queries(query)
        with self._lock:
            return self._live.matches(
                self._live.score(vecs, top_k, aggregate), thumbnails=thumbnails
            )

    def _queries(self, query: Query) -> tuple[list[Face | None], FloatArray]:
        if isinstance(query, Faces):
            if len(query) == 0:
                return [], np.zeros((0, self._dim), np.float32)
            if query.embeddings is None:
                raise ValueError("the query faces have no embeddings; use analyzer.analyze()")
            return list(query), self._check_query(query.embeddings)
        vecs = np.asarray(query, dtype=np.float32)
        vecs = vecs[None, :] if vecs.ndim == 1 else vecs
        return [None] * len(vecs), self._check_query(vecs)

    def _check_query(self, vecs: FloatArray) -> FloatArray:
        if vecs.ndim != 2 or vecs.shape[1] != self._dim:
            raise PackMismatchError(
                f"query embeddings must be {self._dim}-d like this gallery's (pack "
                f"{self._pack!r}), got shape {vecs.shape}"
            )
        return l2_normalize(vecs)

    # --- portability ------------------------------------------------------------------------
    def export_to(self, path: str | Path) -> Path:
        """Write every identity and template (embeddings, metadata, thumbnails) to one
        portable zip file; see :mod:`faceprint.gallery.portable`."""
        from faceprint.gallery.portable import export_gallery

        return export_gallery(self._store, self._pack, self._dim, Path(path))

    def import_from(self, path: str | Path, *, append: bool = False) -> int:
        """Add the identities of an exported file (all or nothing); returns the number of
        templates added. Names that exist already are refused unless ``append``."""
        from faceprint.gallery.portable import import_gallery

        with self._lock:
            added = import_gallery(self._store, self._pack, self._dim, Path(path), append=append)
            self._live.refresh()
        return added


def _clean_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"an identity name must be a non-empty string, got {name!r}")
    return name.strip()


def _exists_message(name: str) -> str:
    return (
        f"identity {name!r} exists already; append to it (append=True, --append) "
        "or choose another name"
    )


def _blob(vec: FloatArray) -> bytes:
    return np.ascontiguousarray(vec, dtype="<f4").tobytes()


def _unique_names(names: Sequence[str]) -> tuple[list[str], IntArray]:
    """(distinct cleaned names, index of each row's name among them)."""
    raw, inverse = np.unique(np.asarray(names, dtype=object).astype(str), return_inverse=True)
    cleaned = [_clean_name(str(n)) for n in raw]
    if len(set(cleaned)) == len(cleaned):
        return cleaned, inverse.astype(np.int64)
    merged, again = np.unique(np.asarray(cleaned), return_inverse=True)
    return [str(n) for n in merged], again[inverse].astype(np.int64)


def _rows_meta(
    n: int,
    names: Sequence[str],
    sources: Sequence[str] | None,
    boxes: npt.ArrayLike | None,
    thumbnails: Sequence[bytes | None] | None,
) -> list[tuple[str, tuple[float, float, float, float] | None, bytes | None]] | None:
    """Per-row (source, box, thumbnail), or ``None`` when there are no boxes and thumbnails."""
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} embeddings; give one name per row")
    if sources is not None and len(sources) != n:
        raise ValueError(f"{len(sources)} sources for {n} embeddings; give one per row")
    if boxes is None and thumbnails is None:
        return None
    src = [""] * n if sources is None else [str(s) for s in sources]
    thumbs: list[bytes | None] = [None] * n if thumbnails is None else list(thumbnails)
    bx: list[tuple[float, float, float, float] | None] = [None] * n
    if boxes is not None:
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        bx = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in arr]
    if not len(thumbs) == len(bx) == n:
        raise ValueError("boxes and thumbnails need one entry per embedding")
    return list(zip(src, bx, thumbs))


def _identified(face: Face | None, matches: tuple[Match, ...], threshold: float) -> IdentifiedFace:
    best = matches[0] if matches else None
    sim = best.similarity if best is not None else float("-inf")
    name = best.name if best is not None and sim >= threshold else None
    return IdentifiedFace(face, name, sim, threshold, matches)
