"""``cluster_faces``: group face embeddings by identity, precision first.

Pipeline (every method): faces under the quality floor are set aside (-1); a k-NN graph of the
rest is built with an index backend (:mod:`faceprint.cluster.graph`, never an N x N matrix for
the graph methods); the method turns it into clusters, with the faces a user named clamped to
their labels; then named labels are applied, "not this person" constraints enforced and clusters
below the minimum size dissolved. See :data:`METHODS` for the methods and :func:`default_threshold`
for the thresholds (the calibration of the embeddings' space).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from faceprint.cluster import dense
from faceprint.cluster.algorithms import chinese_whispers, connected_components, louvain
from faceprint.cluster.default import (
    CORE_OFFSET,
    DEFAULT_K,
    merge_cores,
    precise_clusters,
    strict_cores,
)
from faceprint.cluster.graph import Backend, KnnGraph, knn_graph
from faceprint.errors import InvalidArgumentError
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import Augment, EmbeddingSpace

__all__ = ["METHODS", "ClusterResult", "cluster_faces", "default_threshold"]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
NORM_TOLERANCE = 1e-2


@dataclass(frozen=True, eq=False, slots=True)
class ClusterResult:
    """The clusters of a set of faces.

    Attributes:
        labels: ``(N,)`` int64 cluster of each face; ``-1`` = unclustered (fits nowhere, under
            the quality floor, or in a cluster smaller than ``min_size``). Faces given a fixed
            label keep it; new clusters are numbered above every fixed label, largest first.
        n_clusters: distinct labels other than -1 (named ones included).
        method: the algorithm used.
        threshold: the cosine similarity threshold used.
        seconds: wall time of the clustering.
    """

    labels: IntArray
    n_clusters: int
    method: str
    threshold: float
    seconds: float

    def members(self, label: int) -> IntArray:
        """Indices of the faces with this label."""
        return np.flatnonzero(self.labels == label)


GraphMethod = Callable[[KnnGraph, float, FloatArray], IntArray]


def _cw(graph: KnnGraph, t: float, x: FloatArray) -> IntArray:
    """dlib's recipe: unweighted threshold graph with self loops, Chinese whispers."""
    return chinese_whispers(graph.restrict(t), weighted=False, self_weight=1.0)


def _components(graph: KnnGraph, t: float, x: FloatArray) -> IntArray:
    return connected_components(graph.restrict(t))


def _louvain(graph: KnnGraph, t: float, x: FloatArray) -> IntArray:
    return louvain(graph.restrict(t))


GRAPH_METHODS: dict[str, GraphMethod] = {
    "default": precise_clusters,
    "chinese-whispers": _cw,
    "components": _components,
    "louvain": _louvain,
}
DENSE_METHODS: dict[str, Callable[[FloatArray, float], IntArray]] = {
    "agglomerative": dense.agglomerative,
    "hdbscan": dense.hdbscan,
}
#: every method accepted by :func:`cluster_faces`
METHODS: tuple[str, ...] = (*GRAPH_METHODS, *DENSE_METHODS)


def default_threshold(
    pack: str | EmbeddingSpace = DEFAULT_PACK, method: str = "default", augment: str = "none"
) -> float:
    """The cosine threshold ``cluster_faces`` uses when none is given, for embeddings of
    ``pack`` made with test-time augmentation ``augment`` (or of the space ``pack``): the
    space's :attr:`~faceprint.pipeline.EmbeddingSpace.cluster_threshold` for the default
    method, its verification threshold for the others."""
    space = pack if isinstance(pack, EmbeddingSpace) else _space(pack, augment)
    return space.cluster_threshold if method == "default" else space.threshold


def _space(pack: str, augment: str) -> EmbeddingSpace:
    return EmbeddingSpace(pack, cast(Augment, augment))  # the augment is checked on creation


# --- argument checks ---------------------------------------------------------------------------


def _check_embeddings(embeddings: npt.ArrayLike) -> FloatArray:
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or (x.shape[1] < 1 and len(x) > 0):
        raise InvalidArgumentError(f"embeddings must be an (N, D) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidArgumentError("embeddings must be finite")
    norms = np.einsum("ij,ij->i", x, x)
    if len(x) and not np.all(np.abs(norms - 1.0) <= 2 * NORM_TOLERANCE):
        raise InvalidArgumentError(
            "embeddings must be L2-normalised rows (faceprint.embed.base.l2_normalize)"
        )
    return x


def _check_vector(
    value: npt.ArrayLike | None, n: int, name: str, dtype: type
) -> npt.NDArray | None:
    if value is None:
        return None
    a = np.asarray(value)
    if a.shape != (n,):
        raise InvalidArgumentError(f"{name} must have shape ({n},), got {a.shape}")
    if dtype is np.int64 and a.size and not np.issubdtype(a.dtype, np.integer):
        raise InvalidArgumentError(f"{name} must be integers, got dtype {a.dtype}")
    return a.astype(dtype)


def _check_cannot_link(pairs: Iterable[tuple[int, int]], n: int) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for pair in pairs:
        try:
            face, label = (int(v) for v in pair)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"cannot_link entries must be (face_index, label) pairs, got {pair!r}"
            ) from None
        if not 0 <= face < n:
            raise InvalidArgumentError(f"cannot_link face index {face} out of range 0..{n - 1}")
        out.add((face, label))
    return out


def _check_space(
    space: EmbeddingSpace | None, pack: str | None, augment: str | None
) -> EmbeddingSpace:
    if space is None:
        return _space(pack or DEFAULT_PACK, augment or "none")
    if pack not in (None, space.pack) or augment not in (None, space.augment):
        raise InvalidArgumentError(
            f"the embeddings' space is {space}, not pack={pack!r}, augment={augment!r}; "
            "give one or the other"
        )
    return space


def _check_options(method: str, threshold: float, min_size: int, k: int) -> None:
    if method not in METHODS:
        raise InvalidArgumentError(
            f"unknown clustering method {method!r}; known: {', '.join(METHODS)}"
        )
    if not -1.0 < threshold < 1.0:
        raise InvalidArgumentError(f"threshold must be a cosine in (-1, 1), got {threshold}")
    if min_size < 1:
        raise InvalidArgumentError(f"min_size must be >= 1, got {min_size}")
    if k < 1:
        raise InvalidArgumentError(f"k must be >= 1, got {k}")


# --- the pipeline ------------------------------------------------------------------------------


def _base_labels(x: FloatArray, method: str, t: float, k: int, backend: Backend) -> IntArray:
    """Labels ``0..C-1`` of the active faces (``-1`` noise for HDBSCAN)."""
    if method in DENSE_METHODS:
        return DENSE_METHODS[method](x, t)
    floor = t + CORE_OFFSET if method == "default" else t
    graph = knn_graph(x, k=k, floor=min(floor, 0.999), backend=backend)
    if method == "default":  # the graph is freed before the merging (10M faces: 2.4 GB)
        cores = strict_cores(graph, t)
        del graph
        return merge_cores(x, cores, t)
    return GRAPH_METHODS[method](graph, t, x)


def _apply_fixed(x: FloatArray, base: IntArray, fixed: IntArray, n_free_start: int) -> IntArray:
    """Final labels of the active faces: fixed faces keep theirs; a cluster holding fixed faces
    of one label takes it; a cluster with several gives each free face the label of the most
    similar fixed centroid; other clusters get fresh labels from ``n_free_start``."""
    out = np.full(len(base), -1, np.int64)
    is_fixed = fixed >= 0
    out[is_fixed] = fixed[is_fixed]
    clustered = base >= 0
    if not clustered.any():
        return out
    m = int(base.max()) + 1
    pairs = np.unique(np.stack([base[is_fixed & clustered], fixed[is_fixed & clustered]]), axis=1)
    names = np.bincount(pairs[0], minlength=m)
    only = np.full(m, -1, np.int64)
    single = names[pairs[0]] == 1
    only[pairs[0][single]] = pairs[1][single]
    fresh = np.where(names == 0, n_free_start + np.cumsum(names == 0) - 1, only)
    free = clustered & ~is_fixed
    out[free] = fresh[base[free]]
    for c in np.flatnonzero(names > 1):  # clusters holding several names: split them
        members = np.flatnonzero(base == c)
        named = np.unique(fixed[members][is_fixed[members]])
        loose = members[~is_fixed[members]]
        cents = np.stack([x[members[fixed[members] == lab]].mean(axis=0) for lab in named])
        out[loose] = named[np.argmax(x[loose] @ cents.T, axis=1)]
    return out


def _dissolve_small(labels: IntArray, fixed: IntArray, min_size: int) -> IntArray:
    """Clusters without fixed faces and fewer than ``min_size`` members become -1."""
    labels = labels.copy()
    lab, counts = np.unique(labels[labels >= 0], return_counts=True)
    named = set(np.unique(fixed[fixed >= 0]).tolist())
    small = [a for a, c in zip(lab, counts) if c < min_size and a not in named]
    labels[np.isin(labels, small)] = -1
    return labels


def _renumber_free(labels: IntArray, fixed: IntArray, start: int) -> IntArray:
    """Fresh (unnamed) clusters renumbered from ``start``, largest first."""
    named = np.unique(fixed[fixed >= 0])
    free_mask = (labels >= 0) & ~np.isin(labels, named)
    if not free_mask.any():
        return labels
    lab, inv, counts = np.unique(labels[free_mask], return_inverse=True, return_counts=True)
    order = np.lexsort((lab, -counts))
    rank = np.empty(len(lab), np.int64)
    rank[order] = np.arange(len(lab))
    out = labels.copy()
    out[free_mask] = start + rank[inv.ravel()]
    return out


def cluster_faces(
    embeddings: npt.ArrayLike,
    *,
    threshold: float | None = None,
    min_size: int = 2,
    quality: npt.ArrayLike | None = None,
    quality_floor: float = 0.0,
    fixed: npt.ArrayLike | None = None,
    cannot_link: Iterable[tuple[int, int]] = (),
    method: str = "default",
    k: int = DEFAULT_K,
    pack: str | None = None,
    augment: str | None = None,
    space: EmbeddingSpace | None = None,
    backend: Backend = "auto",
) -> ClusterResult:
    """Group faces by identity, precision first (a face that fits nowhere stays -1).

    Args:
        embeddings: ``(N, D)`` float32 L2-normalised face embeddings of one pack.
        threshold: cosine similarity threshold; ``None``: :func:`default_threshold` of the
            embeddings' space and ``method`` (dlib, default method: 0.937; flip-augmented:
            0.9405).
        min_size: clusters smaller than this are returned unclustered (-1); clusters holding a
            fixed label are always kept.
        quality: ``(N,)`` quality in [0, 1] per face, or None; faces below ``quality_floor``
            are not clustered (-1) unless they have a fixed label.
        fixed: ``(N,)`` int64: a label >= 0 for faces a user named or confirmed (never moved,
            never merged with another fixed label; free faces may join them), -1 for free faces.
        cannot_link: ``(face_index, label)`` pairs, "not this person": that face never gets
            that label (it is left -1 when its cluster resolves to it).
        method: one of :data:`METHODS` (``"default"``: the method chosen on LFW).
        k: neighbours per face in the k-NN graph (graph methods).
        pack / augment: model pack and test-time augmentation of the embeddings (they select
            the default threshold; ``None``: the default pack, ``"none"``), a shorthand for:
        space: the embeddings' :class:`~faceprint.pipeline.EmbeddingSpace` (``pack`` and
            ``augment``, when also given, must agree with it).
        backend: index backend of the k-NN graph (``"auto"``: exact up to 20k faces, HNSW
            above; ``"ivf"``: the IVF list join, 3.4x faster at 1M faces, F 0.004 lower).

    Complexity (default method): the k-NN graph costs ``O(N^2 D)`` exact / ``O(N log N)`` with
    HNSW; everything after it is ``O(N k)`` time and memory (plus small sorts).

    Raises:
        InvalidArgumentError: malformed input or option (nothing is computed).
    """
    start = time.perf_counter()
    x = _check_embeddings(embeddings)
    n = len(x)
    space = _check_space(space, pack, augment)
    t = default_threshold(space, method) if threshold is None else float(threshold)
    _check_options(method, t, min_size, k)
    q = _check_vector(quality, n, "quality", np.float64)
    fx = _check_vector(fixed, n, "fixed", np.int64)
    fx = np.full(n, -1, np.int64) if fx is None else np.where(fx >= 0, fx, -1)
    links = _check_cannot_link(cannot_link, n)
    active = np.ones(n, bool) if q is None else (q >= quality_floor) | (fx >= 0)
    idx = np.flatnonzero(active)
    labels = np.full(n, -1, np.int64)
    if len(idx):
        xa = x if len(idx) == n else x[idx]  # no copy when every face takes part (10M: 5 GB)
        base = _base_labels(xa, method, t, k, backend)
        fresh = int(fx.max(initial=-1)) + 1
        labels[idx] = _apply_fixed(xa, base, fx[idx], fresh + n)
        del xa
    for face, lab in links:
        if labels[face] == lab and fx[face] != lab:
            labels[face] = -1
    labels = _dissolve_small(labels, fx, min_size)
    labels = _renumber_free(labels, fx, int(fx.max(initial=-1)) + 1)
    n_clusters = len(np.unique(labels[labels >= 0]))
    seconds = time.perf_counter() - start
    logger.info(
        "clustered %d faces into %d clusters (%s, t=%.3f) in %.2f s",
        n,
        n_clusters,
        method,
        t,
        seconds,
    )
    return ClusterResult(
        labels=labels, n_clusters=n_clusters, method=method, threshold=t, seconds=seconds
    )
