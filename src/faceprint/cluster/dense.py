"""scikit-learn clusterers kept for comparison: HDBSCAN and average-linkage agglomerative.

Both need all pairwise distances (``O(N^2)`` time; agglomerative also ``O(N^2)`` memory), so
they refuse more than :data:`DENSE_MAX` faces; the graph methods scale instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceprint.errors import InvalidArgumentError

__all__ = ["DENSE_MAX", "agglomerative", "cohesive", "hdbscan", "hdbscan_clusters"]

#: the most faces the O(N^2) comparison methods accept
DENSE_MAX = 30_000

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def _check_size(x: FloatArray, method: str) -> None:
    if len(x) > DENSE_MAX:
        raise InvalidArgumentError(
            f"method {method!r} computes all pairwise distances and accepts at most {DENSE_MAX} "
            f"faces, got {len(x)}; use the default (graph) method"
        )


def agglomerative(x: FloatArray, threshold: float) -> IntArray:
    """Average-linkage clusters: merging stops at a mean cosine similarity below ``threshold``."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    _check_size(x, "agglomerative")
    if len(x) < 2:
        return np.zeros(len(x), np.int64)
    tree = linkage(pdist(x.astype(np.float64), "cosine"), method="average")
    return fcluster(tree, t=1.0 - threshold, criterion="distance").astype(np.int64) - 1


def hdbscan_clusters(x: FloatArray, *, min_samples: int = 2) -> IntArray:
    """HDBSCAN (scikit-learn, excess-of-mass selection, minimum cluster size 2) on Euclidean
    distances of the unit vectors (noise: -1). scikit-learn's ``cluster_selection_epsilon``
    fails on these data (one giant cluster with ``allow_single_cluster``, a TypeError in
    ``epsilon_search`` without), so the threshold is applied by :func:`cohesive` instead."""
    from sklearn.cluster import HDBSCAN

    _check_size(x, "hdbscan")
    if len(x) < 3:
        return np.full(len(x), -1, np.int64)
    model = HDBSCAN(
        min_cluster_size=2,
        min_samples=min_samples,
        metric="euclidean",
        copy=True,
    )
    return model.fit_predict(x.astype(np.float64)).astype(np.int64)


def cohesive(x: FloatArray, labels: IntArray, threshold: float) -> IntArray:
    """``labels`` with every cluster whose mean within-cluster cosine similarity is below
    ``threshold`` turned to noise (-1)."""
    out = labels.copy()
    ok = out >= 0
    if not ok.any():
        return out
    m = int(out.max()) + 1
    sums = np.zeros((m, x.shape[1]), np.float64)
    np.add.at(sums, out[ok], x[ok])
    n = np.bincount(out[ok], minlength=m).astype(np.float64)
    within = (np.einsum("ij,ij->i", sums, sums) - n) / np.maximum(n * (n - 1), 1)
    out[ok & (within[np.maximum(out, 0)] < threshold)] = -1
    return out


def hdbscan(x: FloatArray, threshold: float) -> IntArray:
    """HDBSCAN clusters (:func:`hdbscan_clusters`) whose mean within-cluster cosine
    similarity is at least ``threshold``; the rest is noise (-1)."""
    return cohesive(x, hdbscan_clusters(x), threshold)
