"""Clustering faces by identity (precision first) and family resemblance.

``cluster_faces(embeddings, ...)`` groups face embeddings into clusters of one person each over a
k-NN graph built with the gallery's index backends (see :mod:`faceprint.cluster.core`);
``score_clusters`` measures a clustering against true identities.

The names load on first use (PEP 562): the graph algorithms need SciPy, which ``faceprint
resemble`` and every other command would otherwise pay for at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faceprint.cluster.core import METHODS, ClusterResult, cluster_faces, default_threshold
    from faceprint.cluster.graph import KnnGraph, knn_graph
    from faceprint.cluster.metrics import ClusterScores, score_clusters

__all__ = [
    "METHODS",
    "ClusterResult",
    "ClusterScores",
    "KnnGraph",
    "cluster_faces",
    "default_threshold",
    "knn_graph",
    "score_clusters",
]

_HOME = {
    "METHODS": "core",
    "ClusterResult": "core",
    "cluster_faces": "core",
    "default_threshold": "core",
    "KnnGraph": "graph",
    "knn_graph": "graph",
    "ClusterScores": "metrics",
    "score_clusters": "metrics",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
