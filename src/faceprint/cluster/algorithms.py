"""Graph clustering algorithms over a :class:`~faceprint.cluster.graph.KnnGraph`.

Each takes the graph (already restricted to edges at or above the similarity threshold) and
returns ``(N,)`` int64 labels, ``0..C-1`` (no ``-1``: singletons are their own cluster; the
caller applies the minimum size). ``seeds`` (optional ``(N,)`` int64, ``-1`` free) are labels
clamped on some nodes: those nodes never change label and two clamped labels never merge.

- :func:`connected_components`: every connected set is one cluster (chains merge people).
- :func:`chinese_whispers`: dlib's recipe (Biemann 2006): each node in random order takes the
  label with the largest total edge weight among its neighbours (and itself), until stable.
  Vectorised in small random batches; ``O(iterations x E)``.
- :func:`louvain`: networkx's modularity communities (``O(E log N)`` in practice).
- :func:`mutual_edges` / :func:`shared_neighbour_weights`: edge filters of the default method.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
from scipy.sparse import csgraph

from faceprint.cluster.graph import KnnGraph

__all__ = [
    "chinese_whispers",
    "connected_components",
    "louvain",
    "relabel",
]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


def relabel(labels: IntArray) -> IntArray:
    """Labels renumbered ``0..C-1`` by order of first appearance of each value."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.ravel()]


def connected_components(graph: KnnGraph) -> IntArray:
    """Connected components of the graph."""
    _, labels = csgraph.connected_components(graph.matrix(), directed=False)
    return relabel(labels.astype(np.int64))


def _vote(
    graph: KnnGraph,
    nodes: IntArray,
    labels: IntArray,
    self_weight: float,
) -> IntArray:
    """For each node of ``nodes``, the label of largest total weight among its neighbours
    (plus ``self_weight`` for its own label); ties go to the smallest label."""
    starts, ends = graph.indptr[nodes], graph.indptr[nodes + 1]
    counts = ends - starts
    owner = np.repeat(np.arange(len(nodes), dtype=np.int64), counts)
    pos = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    nbr_labels = labels[graph.indices[pos]]
    weights = graph.sims[pos].astype(np.float64)
    own = np.arange(len(nodes), dtype=np.int64)
    owner = np.concatenate([owner, own])
    nbr_labels = np.concatenate([nbr_labels, labels[nodes]])
    weights = np.concatenate([weights, np.full(len(nodes), self_weight)])
    n_lab = int(labels.max()) + 1
    keys, inv = np.unique(owner * n_lab + nbr_labels, return_inverse=True)
    totals = np.bincount(inv.ravel(), weights=weights)
    key_owner = keys // n_lab
    # per owner: the key of max total (ties: smallest label, as keys are sorted)
    order = np.lexsort((keys, -totals, key_owner))
    first = np.ones(len(order), bool)
    first[1:] = key_owner[order][1:] != key_owner[order][:-1]
    best = keys[order][first] % n_lab
    return best.astype(np.int64)


def chinese_whispers(
    graph: KnnGraph,
    *,
    seeds: IntArray | None = None,
    iterations: int = 30,
    batches: int = 16,
    self_weight: float = 0.0,
    weighted: bool = True,
    seed: int = 0,
) -> IntArray:
    """Chinese whispers label propagation (see the module docstring).

    Args:
        seeds: clamped labels (``-1`` free); a free node may take a seed label, a seeded one
            never changes.
        iterations: passes over all nodes (stops early when no label changes).
        batches: each pass updates the nodes in this many random batches, in turn.
        self_weight: weight of a node's vote for its own label (dlib's recipe includes the
            self loop with weight 1; with similarity weights below 1 a self weight of 1 would
            freeze every node, so the weighted default is 0).
        weighted: weigh votes by edge similarity (False: every edge weighs 1, as dlib does).
    """
    n = graph.n
    g = graph if weighted else _unit_weights(graph)
    labels = np.arange(n, dtype=np.int64)
    clamped = np.zeros(n, bool)
    if seeds is not None:
        clamped = seeds >= 0
        # seed label s becomes node label n + s: never equal to a free node's own number
        labels[clamped] = n + seeds[clamped]
    free = np.flatnonzero(~clamped & (np.diff(g.indptr) > 0))
    rng = np.random.default_rng(seed)
    for it in range(iterations):
        changed = 0
        for part in np.array_split(rng.permutation(free), max(1, min(batches, len(free)))):
            if len(part) == 0:
                continue
            new = _vote(g, part, labels, self_weight)
            changed += int((new != labels[part]).sum())
            labels[part] = new
        if changed == 0:
            logger.debug("chinese whispers converged after %d passes", it + 1)
            break
    return relabel(labels)


def _unit_weights(graph: KnnGraph) -> KnnGraph:
    from dataclasses import replace

    return replace(graph, sims=np.ones_like(graph.sims))


def louvain(graph: KnnGraph, *, resolution: float = 1.0, seed: int = 0) -> IntArray:
    """Louvain modularity communities (networkx), edges weighted by similarity."""
    try:
        import networkx as nx
    except ImportError as e:  # pragma: no cover - exercised only without networkx
        from faceprint.errors import MissingDependencyError

        raise MissingDependencyError("method 'louvain' needs networkx: pip install networkx") from e
    g = nx.Graph()
    g.add_nodes_from(range(graph.n))
    i, j, w = graph.upper()
    g.add_weighted_edges_from(zip(i.tolist(), j.tolist(), w.tolist()))
    labels = np.empty(graph.n, np.int64)
    for c, members in enumerate(
        nx.community.louvain_communities(g, resolution=resolution, seed=seed)
    ):
        labels[list(members)] = c
    return relabel(labels)
