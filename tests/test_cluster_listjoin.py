"""The IVF list-join k-NN graph (``backend="ivf"``) and the merge stage's list index."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faiss", reason="the ivf backend needs faiss (faceprint[faiss])")

from faceprint.bench.synth import make_gallery, synth_spec
from faceprint.cluster import default, graph, knn_graph, score_clusters
from faceprint.cluster.default import average_linkage_merge
from faceprint.cluster.listjoin import ListIndex, list_join_knn

FLOOR = 0.9595  # the default method's graph floor for dlib embeddings (0.937 + CORE_OFFSET)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """4,000 synthetic dlib-like faces, 5 per identity (hard data: impostors near 0.84)."""
    g = make_gallery(4000, synth_spec("dlib"), templates_per_identity=5, probes=1, seed=3)
    return np.ascontiguousarray(g.vectors)


def _exact(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    ids = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(s, ids, axis=1)


def _recall(found: np.ndarray, true: np.ndarray, mask: np.ndarray) -> float:
    hit = (true[:, :, None] == found[:, None, :]).any(axis=2)
    return float(hit[mask].mean())


def test_list_join_finds_the_true_neighbours(faces: np.ndarray) -> None:
    k = 10
    true_ids, true_sims = _exact(faces, k)
    # 20 lists of ~200 faces, 4 probed per face: the join crosses list borders
    ids, sims = list_join_knn(faces, k, -1.0, list_size=200, nprobe=4)
    assert _recall(ids, true_ids, np.ones_like(true_ids, bool)) >= 0.8
    assert _recall(ids, true_ids, true_sims >= FLOOR) >= 0.97
    # what it returns are true similarities, nearest first, never the face itself
    got = np.einsum("nd,nkd->nk", faces, faces[ids])
    assert np.allclose(got, sims, atol=1e-5)
    assert (np.diff(sims, axis=1) <= 0).all()
    assert not (ids == np.arange(len(faces))[:, None]).any()


def test_list_join_keeps_the_floor_and_pads(faces: np.ndarray) -> None:
    ids, sims = list_join_knn(faces, 20, FLOOR, list_size=200, nprobe=4)
    assert ((ids >= 0) == np.isfinite(sims)).all()
    assert (sims[ids >= 0] >= FLOOR).all()
    assert (ids == -1).any()  # few faces have 20 neighbours that close
    assert ids.dtype == np.int64 and sims.dtype == np.float32


def test_ivf_graph_has_the_exact_graphs_format(faces: np.ndarray) -> None:
    a = knn_graph(faces, k=8, floor=0.93, backend="exact")
    b = knn_graph(faces, k=8, floor=0.93, backend="ivf")
    assert b.backend == "ivf"
    for name in ("indptr", "indices", "sims", "knn", "knn_sims"):
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
        assert getattr(a, name).ndim == getattr(b, name).ndim, name
    assert b.knn.shape == a.knn.shape
    m = b.matrix()
    assert (m != m.T).nnz == 0 and m.diagonal().sum() == 0
    # the same edges up to a few missed ones (and never an edge the exact graph lacks)
    ea, eb = a.matrix() > 0, b.matrix() > 0
    assert (eb > ea).nnz == 0
    assert (ea != eb).nnz <= ea.nnz // 50


def test_auto_uses_exact_up_to_exact_max_then_hnsw() -> None:
    assert graph._pick_backend(graph.EXACT_MAX, "auto") == "exact"
    assert graph._pick_backend(graph.EXACT_MAX + 1, "auto") == "hnsw"
    assert graph._pick_backend(10, "ivf") == "ivf"


def test_list_index_search_matches_exact(faces: np.ndarray) -> None:
    # every 4th face searches the others (its identity's other faces are among them)
    q = faces[::4]
    db = np.ascontiguousarray(np.delete(faces, np.s_[::4], axis=0))
    index = ListIndex(db, list_size=150, nprobe=6)
    ids, sims = index.search(q, 5, 0.937)
    s = q @ db.T
    s[s < 0.937] = -np.inf
    true = np.argsort(-s, axis=1, kind="stable")[:, :5]
    found = np.isfinite(np.take_along_axis(s, true, axis=1))
    assert found.sum() >= len(q)
    assert _recall(ids, true, found) >= 0.97
    assert (sims[ids >= 0] >= 0.937).all()


def test_merge_with_the_list_index_matches_exact_search(
    faces: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above EXACT_MAX clusters the merge candidates come from a list join; on the same input
    the merges agree with exact candidate search up to a few faces."""
    x = faces[:2000]
    lone = np.full(len(x), -1, np.int64)
    exact = average_linkage_merge(x, lone, 0.937, pair_threshold=0.9445)
    monkeypatch.setattr(default, "EXACT_MAX", 100)
    lists = average_linkage_merge(x, lone, 0.937, pair_threshold=0.9445)
    agree = score_clusters(lists, exact)
    assert agree.pairwise_precision >= 0.99
    assert agree.pairwise_recall >= 0.95


@pytest.mark.parametrize("exact_max", [100_000, 100])
def test_merge_in_chunks_equals_one_chunk(
    faces: np.ndarray, monkeypatch: pytest.MonkeyPatch, exact_max: int
) -> None:
    """The merge rounds score the candidates of MERGE_CHUNK clusters at a time; the labels
    are the same as in one chunk (exact candidates and list candidates)."""
    monkeypatch.setattr(default, "EXACT_MAX", exact_max)
    x, lone = faces[:1500], np.full(1500, -1, np.int64)
    whole = average_linkage_merge(x, lone, 0.937, pair_threshold=0.9445)
    monkeypatch.setattr(default, "MERGE_CHUNK", 37)
    chunked = average_linkage_merge(x, lone, 0.937, pair_threshold=0.9445)
    assert (whole == chunked).all()
    assert len(np.unique(whole)) < len(x)  # something merged
