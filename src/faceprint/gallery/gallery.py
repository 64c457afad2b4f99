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
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from faceprint.batch import Engine, ImageResult
from faceprint.compare import check_threshold
from faceprint.embed.base import l2_normalize
from faceprint.errors import (
    AmbiguousFaceError,
    FaceprintError,
    GalleryError,
    IdentityExistsError,
    IdentityNotFoundError,
    InvalidArgumentError,
    ModelError,
    NoFaceError,
    PackMismatchError,
)
from faceprint.gallery.enroll import (
    EnrolmentFace,
    clean_name,
    embed_for_enrolment,
    enrolment_face,
    scan_folders,
)
from faceprint.gallery.live import Aggregate, LiveIndex
from faceprint.gallery.settings import GallerySettings
from faceprint.gallery.store import DB_NAME, GalleryStore, TemplateRow, utc_now
from faceprint.gallery.types import (
    EnrollReport,
    FileOutcome,
    IdentifiedFace,
    Identity,
    Match,
    PeoplePage,
    Template,
    dump_metadata,
)
from faceprint.imageio import ImageInput, printable
from faceprint.index.base import VectorIndex, create_index
from faceprint.packs import DEFAULT_PACK, PackSpec, get_pack
from faceprint.pipeline import AUGMENTS, Augment, EmbeddingSpace, FaceAnalyzer, FaceChoice
from faceprint.types import Face, Faces

__all__ = ["Aggregate", "Gallery", "Query"]

logger = logging.getLogger(__name__)

#: largest ``top_k`` of :meth:`Gallery.identify` and :meth:`Gallery.search` (candidates per face)
MAX_TOP_K = 10_000
#: the most people one :meth:`Gallery.people` page holds
MAX_PEOPLE_PAGE = 1000
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
        self._augment = self.settings.augment
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
        augment: Augment = "none",
    ) -> Gallery:
        """A new, empty gallery in ``directory`` (created; it must not hold a gallery yet)."""
        spec = get_pack(pack)
        create_index(index, spec.dim, **dict(index_params or {}))  # validate before writing
        if augment not in AUGMENTS:
            raise InvalidArgumentError(
                f"augment must be one of {', '.join(AUGMENTS)}, got {augment!r}"
            )
        path = Path(directory)
        if path.exists() and not path.is_dir():
            raise GalleryError(f"{path} is a file, not a folder; give a folder for the gallery")
        path.mkdir(parents=True, exist_ok=True)
        settings = {
            "uuid": uuid.uuid4().hex,
            "pack": spec.name,
            "augment": augment,
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
        store = GalleryStore.open(path / DB_NAME)
        try:
            gallery = cls(path, store)
            gallery._live.load()
        except BaseException:
            store.close()
            raise
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
    def augment(self) -> Augment:
        """Test-time augmentation of this gallery's embeddings (``FaceAnalyzer(augment=...)``)."""
        return cast(Augment, self._augment)

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
        (``settings.set_threshold``), else the pack's calibrated one for the gallery's
        augmentation."""
        saved = self.settings.threshold
        if saved is not None:
            return saved
        try:
            return self.space.threshold
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

    def people(self, query: str = "", *, limit: int = 50, offset: int = 0) -> PeoplePage:
        """A page of the people whose name contains ``query`` (any case; ``""``: everybody),
        sorted by name, with how many match in all: for listing a gallery of any size (one
        database query; :meth:`identities` reads every identity).

        Raises:
            InvalidArgumentError: ``limit`` outside 1..``MAX_PEOPLE_PAGE``, a negative
                ``offset`` or a query longer than 1024 characters.
        """
        if not 1 <= limit <= MAX_PEOPLE_PAGE:
            raise InvalidArgumentError(f"limit must be in 1..{MAX_PEOPLE_PAGE}, got {limit}")
        if not 0 <= offset < 2**63:
            raise InvalidArgumentError(f"offset must be a non-negative integer, got {offset}")
        if len(query) > 1024:
            raise InvalidArgumentError("query must be at most 1024 characters")
        people, total = self._store.people_page(query.strip().casefold(), limit, offset)
        return PeoplePage(tuple(people), total, offset, limit)

    def get(self, name: str) -> Identity:
        """The identity called ``name``; :class:`IdentityNotFoundError` when there is none."""
        found = self._store.identities(name)
        if not found:
            raise IdentityNotFoundError(f"no identity named {name!r} in the gallery")
        return found[0]

    def name_of(self, person_id: int) -> str:
        """The name of the identity with id ``person_id`` (:attr:`Identity.id`: stable for the
        identity's lifetime, never reused, safe in a URL); :class:`IdentityNotFoundError`."""
        if not 0 < int(person_id) < 2**63:
            raise IdentityNotFoundError(f"no identity with id {person_id} in the gallery")
        with self._store.reading() as cur:
            name = self._store.identity_name(cur, int(person_id))
        if name is None:
            raise IdentityNotFoundError(f"no identity with id {person_id} in the gallery")
        return name

    def similarity(self, name: str, embedding: npt.ArrayLike) -> float:
        """Best cosine similarity of one query ``embedding`` to the templates of ``name`` (its
        own templates only, not a search of the gallery); :class:`IdentityNotFoundError`, or
        :class:`GalleryError` when the identity has no template."""
        query = self._check_query(np.asarray(embedding, np.float32).reshape(1, -1))[0]
        with self._store.reading() as cur:
            ident = self._store.require_identity(cur, name)
        vecs = self._store.embeddings_of(ident, self.dim)
        if len(vecs) == 0:
            raise GalleryError(f"{name!r} has no templates to compare with")
        return float(np.max(vecs @ query))

    def templates(self, name: str) -> list[Template]:
        """The templates of identity ``name``, oldest first."""
        with self._store.reading() as cur:
            ident = self._store.require_identity(cur, name)
        return self._store.templates_of(ident)

    def thumbnail(self, template_id: int) -> bytes | None:
        """JPEG bytes of a template's aligned crop, or ``None`` when it has none."""
        return self._store.thumbnails([template_id]).get(int(template_id))

    # --- enrolment --------------------------------------------------------------------------
    def check_analyzer(self, analyzer: FaceAnalyzer | Engine) -> None:
        """Raise :class:`PackMismatchError` unless ``analyzer`` makes embeddings comparable with
        this gallery's (same pack, same test-time augmentation)."""
        self.space.check(analyzer.space)

    @property
    def space(self) -> EmbeddingSpace:
        """The embedding space of this gallery's templates (pack and augmentation)."""
        return EmbeddingSpace(self._pack, self.augment)

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
            PackMismatchError: ``analyzer`` uses another pack or another ``augment``.
        """
        name = _clean_name(name)
        self.check_analyzer(analyzer)
        meta = None if metadata is None else dump_metadata(metadata)
        if not append and name in self:
            raise IdentityExistsError(_exists_message(name))
        faces = [embed_for_enrolment(analyzer, image, face) for image in images]
        if not faces:
            raise InvalidArgumentError("enroll needs at least one image")
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
                    self._store.set_identity_metadata(cur, ident, metadata)
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
        analyzer: FaceAnalyzer | Engine,
        *,
        face: FaceChoice = "largest",
        append: bool = False,
    ) -> Iterator[FileOutcome]:
        """Enrol ``root/NAME/*`` one file at a time (one transaction per file), yielding what
        happened to each; see :meth:`enroll_folders`. Images are analysed by the engine
        (:mod:`faceprint.batch`): give an :class:`~faceprint.batch.Engine` to use worker
        processes, or a FaceAnalyzer to work in this process."""
        engine = analyzer if isinstance(analyzer, Engine) else Engine.from_analyzer(analyzer)
        self.check_analyzer(engine)
        pairs = scan_folders(root)
        names = {p[0]: _name_or_none(p[0]) for p in pairs}
        existing = {n for n in names.values() if n is not None and n in self}
        decided = [
            self._decide(names[folder], folder, path, append, existing) for folder, path in pairs
        ]
        todo = [path for (folder, path), d in zip(pairs, decided) if d is None]
        results = engine.analyze_iter(todo, thumbnails=True)
        try:
            for (folder, path), outcome in zip(pairs, decided, strict=True):
                if outcome is not None:
                    yield outcome
                    continue
                name = names[folder]
                assert name is not None  # decided refuses bad folder names
                yield self._enroll_result(name, path, next(results), face)
        finally:
            results.close()

    def enroll_folders(
        self,
        root: str | Path,
        analyzer: FaceAnalyzer | Engine,
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

    def _decide(
        self, name: str | None, folder: str, path: Path, append: bool, existing: set[str]
    ) -> FileOutcome | None:
        """The outcome of a file that needs no analysis, else ``None``."""
        if name is None:
            return _bad_folder_name(folder, path)
        if name in existing and not append:
            return FileOutcome(path, name, "exists", _exists_message(name))
        source = _folder_source(path)
        if append and name in existing and source in self._sources(name):
            return FileOutcome(path, name, "duplicate", f"{source} is enrolled already")
        return None

    def _enroll_result(
        self, name: str, path: Path, result: ImageResult, face: FaceChoice
    ) -> FileOutcome:
        source = _folder_source(path)
        try:
            found = enrolment_face(result, face, source=source)
        except NoFaceError as exc:
            return FileOutcome(path, name, "no_face", str(exc))
        except AmbiguousFaceError as exc:
            return FileOutcome(path, name, "ambiguous", str(exc))
        except FaceprintError as exc:
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
        if pack is not None:
            self.space.check(EmbeddingSpace(pack, self.augment))
        vecs = np.asarray(embeddings, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self._dim:
            raise PackMismatchError(
                f"embeddings must have shape (N, {self._dim}) for pack {self._pack!r}, "
                f"got {vecs.shape}"
            )
        norms = np.linalg.norm(vecs, axis=1)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise InvalidArgumentError("embeddings must be finite and non-zero")
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
                self._store.rename_identity(cur, ident, new, utc_now())
            self._live.names[ident] = new
        return self.get(new)

    def set_metadata(self, name: str, metadata: Mapping[str, Any]) -> Identity:
        """Replace the metadata (a JSON object) of identity ``name``."""
        meta = dump_metadata(metadata)
        with self._store.transaction() as cur:
            ident = self._store.require_identity(cur, name)
            self._store.set_identity_metadata(cur, ident, meta, utc_now())
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
                tids = self._store.delete_identity(cur, ident)
            self._live.names.pop(ident, None)
            self._live.removed(tids)
            self._scrub(vacuum)
        return len(tids)

    def remove_template(self, template_id: int, *, vacuum: bool = False) -> None:
        """Delete one template (its identity stays, possibly with no template left)."""
        with self._lock:
            with self._store.transaction() as cur:
                owner = self._store.delete_template(cur, int(template_id))
                if owner is None:
                    raise GalleryError(f"no template with id {template_id} in the gallery")
                self._store.touch(cur, [owner], utc_now())
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
        top_k = _check_top_k(top_k)
        faces, vecs = self._queries(query)
        thr = self.threshold if threshold is None else check_threshold(threshold)
        with self._lock:
            k = self._clamped(top_k)
            matches = self._live.matches(self._live.score(vecs, k, aggregate), thumbnails=False)
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
        top_k = _check_top_k(top_k)
        _faces, vecs = self._queries(query)
        with self._lock:
            k = self._clamped(top_k)
            return self._live.matches(self._live.score(vecs, k, aggregate), thumbnails=thumbnails)

    def _clamped(self, top_k: int) -> int:
        """``top_k`` clamped to the number of identities (result arrays are (faces, k))."""
        self._live.sync()
        return max(1, min(top_k, len(self._live.names)))

    def _queries(self, query: Query) -> tuple[list[Face | None], FloatArray]:
        if isinstance(query, Faces):
            if len(query) == 0:
                return [], np.zeros((0, self._dim), np.float32)
            if query.embeddings is None:
                raise InvalidArgumentError(
                    "the query faces have no embeddings; use analyzer.analyze()"
                )
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

        return export_gallery(self._store, self._pack, self._dim, Path(path), self._augment)

    def import_from(self, path: str | Path, *, append: bool = False) -> int:
        """Add the identities of an exported file (all or nothing); returns the number of
        templates added. Names that exist already are refused unless ``append``."""
        from faceprint.gallery.portable import import_gallery

        with self._lock:
            added = import_gallery(
                self._store, self._pack, self._dim, Path(path), append=append, augment=self._augment
            )
            self._live.refresh()
        return added


def _folder_source(path: Path) -> str:
    """How a template enrolled from a person's folder names its file: ``FOLDER/FILE``."""
    return printable(f"{path.parent.name}/{path.name}")


def _clean_name(name: str) -> str:
    return clean_name(name)


def _name_or_none(name: str) -> str | None:
    try:
        return clean_name(name)
    except InvalidArgumentError:
        return None


def _bad_folder_name(folder: str, path: Path) -> FileOutcome:
    try:
        clean_name(folder)
        reason = ""
    except InvalidArgumentError as exc:
        reason = str(exc)
    return FileOutcome(path, printable(folder), "unreadable", f"{reason}; rename the folder")


def _check_top_k(top_k: int) -> int:
    """``top_k`` as an int in 1..:data:`MAX_TOP_K`, or :class:`InvalidArgumentError`."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
        raise InvalidArgumentError(f"top_k must be an integer, got {top_k!r}")
    if not 1 <= top_k <= MAX_TOP_K:
        raise InvalidArgumentError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    return int(top_k)


def _exists_message(name: str) -> str:
    return (
        f"identity {name!r} exists already; append to it (append=True, --append) "
        "or choose another name"
    )


def _blob(vec: FloatArray) -> bytes:
    return np.ascontiguousarray(vec, dtype="<f4").tobytes()


def _unique_names(names: Sequence[str]) -> tuple[list[str], IntArray]:
    """(distinct cleaned names, index of each row's name among them); names are compared as
    Python strings (NumPy's string arrays would drop trailing NUL characters)."""
    first: dict[str, int] = {}
    inverse = np.fromiter(
        (first.setdefault(n, len(first)) if isinstance(n, str) else -1 for n in names),
        dtype=np.int64,
        count=len(names),
    )
    if (inverse < 0).any():
        bad = names[int(np.argmin(inverse))]
        raise InvalidArgumentError(f"an identity name must be a non-empty string, got {bad!r}")
    cleaned = [_clean_name(n) for n in first]
    if len(set(cleaned)) == len(cleaned):
        return cleaned, inverse
    merged, again = np.unique(np.asarray(cleaned, dtype=object), return_inverse=True)
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
        raise InvalidArgumentError(f"{len(names)} names for {n} embeddings; give one name per row")
    if sources is not None and len(sources) != n:
        raise InvalidArgumentError(f"{len(sources)} sources for {n} embeddings; give one per row")
    if boxes is None and thumbnails is None:
        return None
    src = [""] * n if sources is None else [str(s) for s in sources]
    thumbs: list[bytes | None] = [None] * n if thumbnails is None else list(thumbnails)
    bx: list[tuple[float, float, float, float] | None] = [None] * n
    if boxes is not None:
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        bx = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in arr]
    if not len(thumbs) == len(bx) == n:
        raise InvalidArgumentError("boxes and thumbnails need one entry per embedding")
    return list(zip(src, bx, thumbs))


def _identified(face: Face | None, matches: tuple[Match, ...], threshold: float) -> IdentifiedFace:
    best = matches[0] if matches else None
    sim = best.similarity if best is not None else float("-inf")
    name = best.name if best is not None and sim >= threshold else None
    return IdentifiedFace(face, name, sim, threshold, matches)
