"""The vector-index interface every gallery search backend implements.

A :class:`VectorIndex` maps int64 template ids (the gallery's ``templates.id``) to unit float32
vectors and answers top-k inner-product (cosine) queries. The gallery's SQLite database is the
source of truth; an index is derived from it and can always be rebuilt. So an index on disk is
never trusted blindly: :meth:`VectorIndex.save` records *what it was built from* in an
:class:`IndexManifest`, and :meth:`VectorIndex.load` refuses (with
:class:`~faceprint.errors.IndexCorruptError`) a missing, truncated, bit-flipped or stale index,
which tells the gallery to rebuild it.

Contract shared by all backends:

- ids are unique: adding an id that is present raises ``ValueError``; removing an unknown id is
  ignored. Deletes are real: once :meth:`remove` returns, no search (also after save/load)
  returns the removed ids, whatever the backend does internally (tombstones, compaction).
- scores are cosine similarities of unit vectors (exact, or approximated by the backend's
  quantisation), sorted descending; a result row is padded with score ``-inf`` and id ``-1``
  when fewer than ``k`` vectors exist or pass the ``threshold``.
- aggregation of templates into identities is the gallery's job, not the index's.

The checksum: the gallery gives a *fingerprint* (e.g. its uuid) and the index content is
summarised by the count, max and sum of the template ids (ids are never reused and templates are
immutable, so these identify the content). :func:`state_checksum` computes it from SQL
aggregates, :func:`ids_checksum` from an id array; both give the same string.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult
from faceprint.errors import IndexCorruptError, InvalidArgumentError, MissingDependencyError
from faceprint.index._util import check_queries, check_threshold, threshold_floor

__all__ = [
    "BACKENDS",
    "IndexManifest",
    "SearchResult",
    "VectorIndex",
    "backend_class",
    "create_index",
    "ids_checksum",
    "list_backends",
    "load_index",
    "state_checksum",
]

IdArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

#: backend name → "module:class", imported on first use (FAISS and pymilvus load lazily)
BACKENDS: dict[str, str] = {
    "exact": "faceprint.index.exact:ExactIndex",
    "exact-f16": "faceprint.index.exact:ExactF16Index",
    "exact-int8": "faceprint.index.exact:ExactInt8Index",
    "hnsw": "faceprint.index.hnsw:HNSWIndex",
    "ivfpq": "faceprint.index.ivfpq:IVFPQIndex",
    "binary": "faceprint.index.binary:BinaryIndex",
    "pq": "faceprint.index.pq:PQIndex",
    "milvus": "faceprint.index.milvus:MilvusIndex",
}

#: optional pip extra needed by a backend, and the module whose absence means it is missing
_EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "exact-f16": ("faiss", ("faiss",)),
    "exact-int8": ("faiss", ("faiss",)),
    "hnsw": ("faiss", ("faiss",)),
    "ivfpq": ("faiss", ("faiss",)),
    "binary": ("faiss", ("faiss",)),
    "pq": ("faiss", ("faiss",)),
    "milvus": ("milvus", ("pymilvus",)),
}


@dataclass(frozen=True)
class SearchResult:
    """Top-k neighbours of ``Q`` queries.

    Attributes:
        scores: ``(Q, k)`` float32 cosine similarities, each row descending; ``-inf`` pads.
        ids: ``(Q, k)`` int64 template ids; ``-1`` where the score is padding.
    """

    scores: FloatArray
    ids: IdArray

    def __post_init__(self) -> None:
        if self.scores.shape != self.ids.shape or self.scores.ndim != 2:
            raise InvalidArgumentError(
                f"scores and ids must both be (Q, k); got {self.scores.shape} and {self.ids.shape}"
            )

    @property
    def valid(self) -> npt.NDArray[np.bool_]:
        """``(Q, k)`` mask of real (non-padding) entries."""
        return self.ids >= 0

    @classmethod
    def empty(cls, nq: int, k: int) -> SearchResult:
        """All padding: ``nq`` rows of ``k`` entries."""
        return cls(np.full((nq, k), -np.inf, np.float32), np.full((nq, k), -1, np.int64))

    def padded(self, k: int) -> SearchResult:
        """This result with padding columns appended up to ``k`` (itself when it has them)."""
        have = self.ids.shape[1]
        if have >= k:
            return self
        pad = SearchResult.empty(len(self.ids), k - have)
        return SearchResult(
            np.concatenate([self.scores, pad.scores], axis=1),
            np.concatenate([self.ids, pad.ids], axis=1),
        )


@dataclass(frozen=True)
class IndexManifest(JsonResult):
    """What an index was built from, written next to it and checked on load.

    Attributes:
        backend: backend name (a key of :data:`BACKENDS`).
        dim: vector size.
        count: number of vectors (live templates).
        checksum: :func:`ids_checksum` of the ids with the gallery's fingerprint.
        pack: model pack whose embeddings these are.
        params: backend parameters; build parameters must match on load, search parameters
            (``ef_search``, ``nprobe``, ``shortlist`` ...) of the expected manifest are applied.
    """

    backend: str
    dim: int
    count: int
    checksum: str
    pack: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> IndexManifest:
        """Parse :meth:`to_dict` output; raises ``IndexCorruptError`` when malformed."""
        try:
            return cls(
                backend=str(d["backend"]),
                dim=int(d["dim"]),
                count=int(d["count"]),
                checksum=str(d["checksum"]),
                pack=str(d.get("pack", "")),
                params=dict(d.get("params", {})),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise IndexCorruptError(f"malformed index manifest: {e!r}") from e

    def mismatch(self, expect: IndexManifest, build_params: frozenset[str]) -> str | None:
        """Why an index with this manifest is not what ``expect`` asks for (None if it is)."""
        for name in ("backend", "dim", "count", "checksum", "pack"):
            have, want = getattr(self, name), getattr(expect, name)
            if have != want:
                return f"{name} is {have!r}, expected {want!r}"
        for name in sorted(build_params & set(expect.params)):
            if _norm(self.params.get(name)) != _norm(expect.params[name]):
                return f"parameter {name} is {self.params.get(name)!r}, expected {expect.params[name]!r}"
        return None


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def state_checksum(count: int, max_id: int, id_sum: int, *, fingerprint: str = "") -> str:
    """Checksum of an id set from its size, max and sum (what SQL aggregates give)."""
    text = f"{fingerprint}\x00{int(count)}\x00{int(max_id)}\x00{int(id_sum)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def ids_checksum(ids: npt.ArrayLike, *, fingerprint: str = "") -> str:
    """:func:`state_checksum` of an id array (exact integer sum, no overflow)."""
    a = np.asarray(ids, dtype=np.int64).ravel()
    if a.size == 0:
        return state_checksum(0, 0, 0, fingerprint=fingerprint)
    hi, lo = a >> 32, a & 0xFFFFFFFF
    total = (int(hi.sum()) << 32) + int(lo.sum())
    return state_checksum(a.size, int(a.max()), total, fingerprint=fingerprint)


class VectorIndex(ABC):
    """Top-k cosine search over unit float32 vectors keyed by int64 template ids.

    Implementations: :data:`BACKENDS`. Create with :func:`create_index`, reopen with
    :func:`load_index` (or ``Backend.load``). Not safe for concurrent mutation; concurrent
    searches are safe when no mutation runs.
    """

    name: ClassVar[str]
    #: parameters that change what is stored (must match on load); others only affect search
    BUILD_PARAMS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, dim: int) -> None:
        if int(dim) < 1:
            raise InvalidArgumentError(f"dim must be >= 1, got {dim}")
        self.dim = int(dim)

    # --- the interface ----------------------------------------------------------------------
    @abstractmethod
    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add ``(N,)`` unique new ids with their ``(N, dim)`` unit vectors."""

    @abstractmethod
    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove these ids (unknown ones are ignored); returns how many were removed."""

    def search(
        self, queries: npt.ArrayLike, k: int, *, threshold: float | None = None
    ) -> SearchResult:
        """The ``k`` most similar vectors of each ``(Q, dim)`` query (a ``(dim,)`` query is one
        row), scores at or above ``threshold`` (a cosine; ``None``: no threshold).

        The shared prologue of every backend: the queries, ``k`` and ``threshold`` are checked
        (:class:`~faceprint.errors.InvalidArgumentError`), an empty index answers padding, and
        ``k`` is clamped to the index size before :meth:`_search`; the result is padded back to
        ``k`` columns.
        """
        q = check_queries(self.dim, queries, k)
        floor = threshold_floor(check_threshold(threshold))
        if len(self) == 0:
            return SearchResult.empty(len(q), int(k))
        found = self._search(q, min(int(k), len(self)), floor)
        return found.padded(int(k))

    @abstractmethod
    def _search(self, q: FloatArray, k: int, floor: np.float32) -> SearchResult:
        """Top-``k`` of the checked ``(Q, dim)`` float32 queries ``q`` (``1 <= k <= len(self)``),
        keeping scores above ``floor`` (:func:`~faceprint.index._util.threshold_floor`)."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of live vectors."""

    @abstractmethod
    def ids(self) -> IdArray:
        """The live ids (order unspecified)."""

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Bytes of RAM the index holds (memory-mapped files not counted)."""

    @property
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The backend parameters (JSON-ready), as given to :func:`create_index`."""

    @abstractmethod
    def save(self, path: Path, *, fingerprint: str = "", pack: str = "") -> None:
        """Write the index to directory ``path`` (atomically replacing it) with its manifest.

        ``fingerprint`` and ``pack`` are recorded in the manifest (see :func:`ids_checksum`).
        """

    @classmethod
    @abstractmethod
    def load(cls, path: Path, *, expect: IndexManifest) -> Self:
        """Open an index saved by :meth:`save`, verified against ``expect``.

        Raises:
            IndexCorruptError: missing or unreadable files, failed checksums, or a manifest that
                differs from ``expect`` (stale index): rebuild from the gallery.
        """

    # --- shared helpers ---------------------------------------------------------------------
    def manifest(self, *, fingerprint: str = "", pack: str = "") -> IndexManifest:
        """The manifest describing the current content."""
        return IndexManifest(
            backend=self.name,
            dim=self.dim,
            count=len(self),
            checksum=ids_checksum(self.ids(), fingerprint=fingerprint),
            pack=pack,
            params=self.params,
        )

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release external resources (connections); local backends hold none."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, count={len(self)})"


def list_backends() -> list[str]:
    """Names accepted by :func:`create_index`."""
    return sorted(BACKENDS)


def backend_class(backend: str) -> type[VectorIndex]:
    """The class of a backend, imported on demand.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        MissingDependencyError: the backend's optional extra is not installed.
    """
    if backend not in BACKENDS:
        raise InvalidArgumentError(
            f"unknown index backend {backend!r}; known: {', '.join(list_backends())}"
        )
    _check_extra(backend)
    module, _, attr = BACKENDS[backend].partition(":")
    cls: type[VectorIndex] = getattr(importlib.import_module(module), attr)
    return cls


def _check_extra(backend: str) -> None:
    if backend not in _EXTRAS:
        return
    extra, modules = _EXTRAS[backend]
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as e:
            raise MissingDependencyError(
                f'index backend {backend!r} needs {mod}: pip install "faceprint[{extra}]"'
            ) from e


def create_index(backend: str, dim: int, **params: Any) -> VectorIndex:
    """A new, empty index of this backend (parameters: see the backend's class).

    Raises:
        ValueError: unknown backend or parameter.
        MissingDependencyError: the backend's optional extra is not installed.
    """
    cls = backend_class(backend)
    known = _parameter_names(cls)
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidArgumentError(
            f"bad parameters for index backend {backend!r}: unknown parameter "
            f"{unknown[0]!r}; known: {', '.join(sorted(known)) or 'none'}"
        )
    for name, value in params.items():
        _check_type(backend, name, value, _annotation(cls, name))
    try:
        return cls(dim, **params)
    except (TypeError, ValueError, OverflowError) as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidArgumentError(
            f"bad parameters for index backend {backend!r} ({_shown(params)}): {detail}"
        ) from e


def _constructor_parameters(cls: type[VectorIndex]) -> dict[str, inspect.Parameter]:
    """The keyword parameters of a backend's constructor (besides ``dim``), following
    ``**kwargs`` up to the base classes that receive them."""
    found: dict[str, inspect.Parameter] = {}
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or not issubclass(klass, VectorIndex):
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters
        for name, param in params.items():
            if param.kind in kinds and name not in ("self", "dim"):
                found.setdefault(name, param)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            break
    return found


def _parameter_names(cls: type[VectorIndex]) -> set[str]:
    return set(_constructor_parameters(cls))


def _annotation(cls: type[VectorIndex], name: str) -> str:
    """The type annotation of a constructor parameter, as text (``"int | None"``)."""
    ann = _constructor_parameters(cls)[name].annotation
    return ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))


#: largest integer parameter accepted (sizes, counts, seeds)
_MAX_INT_PARAM = 2**31 - 1


def _check_type(backend: str, name: str, value: Any, annotation: str) -> None:
    """Refuse a parameter value whose type does not fit the constructor's annotation."""
    kinds = {k.strip() for k in annotation.split("|")}
    if value is None and "None" in kinds:
        return
    ok = True
    if "bool" in kinds and isinstance(value, bool):
        return
    if "int" in kinds:
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and -_MAX_INT_PARAM <= value <= _MAX_INT_PARAM
    if not ok and "float" in kinds:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and math.isfinite(value)
    if not ok and kinds <= {"int", "float", "bool", "None"}:
        raise InvalidArgumentError(
            f"bad parameters for index backend {backend!r}: {name!r} must be {annotation}, "
            f"got {value!r}"
        )


def _shown(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items()) or "defaults"


def load_index(path: Path, *, expect: IndexManifest) -> VectorIndex:
    """Open the index at ``path`` with the backend named by ``expect.backend``."""
    return backend_class(expect.backend).load(Path(path), expect=expect)
