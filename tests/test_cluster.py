"""Clustering by identity: the k-NN graph, the algorithms, cluster_faces' constraints, metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceprint.cluster import METHODS, cluster_faces, knn_graph, score_clusters
from faceprint.cluster.algorithms import chinese_whispers, connected_components
from faceprint.cluster.metrics import ClusterScores
from faceprint.errors import InvalidArgumentError


def _blobs(
    people: int, per: int, dim: int = 32, spread: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``people`` random centres (cosine to the centre about 0.99)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, dim))
    labels = np.repeat(np.arange(people), per)
    x = centres[labels] / np.sqrt(dim) + spread * rng.normal(size=(len(labels), dim)) / np.sqrt(dim)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


# --- the graph -----------------------------------------------------------------------------------


def test_knn_graph_is_symmetric_without_self_loops() -> None:
    x, _ = _blobs(20, 5)
    g = knn_graph(x, k=6, floor=0.5)
    m = g.matrix()
    assert (m != m.T).nnz == 0
    assert m.diagonal().sum() == 0
    assert g.knn.shape == (100, 6)
    rows = np.repeat(np.arange(100), 6).reshape(100, 6)
    assert not (g.knn == rows).any()
    exact = x @ x.T
    np.fill_diagonal(exact, -np.inf)
    exact[exact < 0.5] = -np.inf  # the floor
    assert np.allclose(
        np.sort(g.knn_sims, axis=1)[:, ::-1], -np.sort(-exact, axis=1)[:, :6], atol=1e-5
    )


def test_knn_graph_hnsw_matches_exact_on_clear_data() -> None:
    x, _ = _blobs(50, 6)
    a = knn_graph(x, k=5, floor=0.8, backend="exact")
    b = knn_graph(x, k=5, floor=0.8, backend="hnsw")
    same_edges = (a.matrix() > 0) != (b.matrix() > 0)
    assert same_edges.nnz <= a.edges // 50


def test_knn_graph_tiny_inputs() -> None:
    assert knn_graph(np.zeros((0, 8), np.float32), k=3).edges == 0
    one = np.eye(1, 8, dtype=np.float32)
    assert knn_graph(one, k=3).edges == 0


# --- algorithms ----------------------------------------------------------------------------------


def test_chinese_whispers_and_components_find_separate_blobs() -> None:
    x, truth = _blobs(10, 6)
    g = knn_graph(x, k=10, floor=0.9)
    for labels in (chinese_whispers(g), connected_components(g)):
        assert score_clusters(labels, truth).pairwise_f == 1.0


def _bridged() -> tuple[np.ndarray, float]:
    """Two tight blobs of 5 and one face halfway between them; a threshold that links it to both."""
    x, _ = _blobs(2, 5, spread=0.05)
    bridge = (x[0] + x[5]) / np.linalg.norm(x[0] + x[5])
    x = np.vstack([x, bridge]).astype(np.float32)
    return x, min(float(x[10] @ x[0]), float(x[10] @ x[5])) - 1e-3


def test_seeded_chinese_whispers_never_merges_two_seeds() -> None:
    x, t = _bridged()
    g = knn_graph(x, k=10, floor=0.0).restrict(t)
    assert len(set(connected_components(g).tolist())) == 1  # the bridge chains them
    seeds = np.full(11, -1, np.int64)
    seeds[0], seeds[5] = 7, 9
    labels = chinese_whispers(g, seeds=seeds)
    assert labels[0] != labels[5]


def test_fixed_labels_split_a_chained_cluster() -> None:
    x, t = _bridged()
    fixed = np.full(11, -1, np.int64)
    fixed[0], fixed[5] = 7, 9
    res = cluster_faces(x, threshold=t, method="components", fixed=fixed)
    assert (res.labels[:5] == 7).all() and (res.labels[5:10] == 9).all()
    assert res.labels[10] in (7, 9)


# --- cluster_faces -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_every_method_separates_clear_identities(method: str) -> None:
    if method == "louvain":
        pytest.importorskip("networkx", reason="method 'louvain' needs networkx")
    x, truth = _blobs(12, 5)
    res = cluster_faces(x, method=method, threshold=0.9)
    s = score_clusters(res.labels, truth)
    assert s.pairwise_precision == 1.0
    # HDBSCAN (minimum cluster size 2) may split a blob of five
    assert s.pairwise_recall >= (0.5 if method == "hdbscan" else 0.9)
    assert res.method == method and res.threshold == 0.9


def test_default_leaves_outliers_and_singletons_unclustered() -> None:
    x, _truth = _blobs(8, 6)
    rng = np.random.default_rng(5)
    loners = rng.normal(size=(5, x.shape[1])).astype(np.float32)
    loners /= np.linalg.norm(loners, axis=1, keepdims=True)
    res = cluster_faces(np.vstack([x, loners]), threshold=0.9)
    assert (res.labels[-5:] == -1).all()
    assert res.n_clusters == 8
    # new clusters are numbered largest first from 0
    assert set(res.labels[res.labels >= 0]) == set(range(8))


def test_min_size_dissolves_small_clusters() -> None:
    x, _ = _blobs(4, 3)
    x = np.vstack([x, _blobs(1, 8, seed=9)[0]])
    res = cluster_faces(x, threshold=0.9, min_size=4)
    assert res.n_clusters == 1
    assert (res.labels[:12] == -1).all() and (res.labels[12:] == 0).all()


def test_quality_floor_keeps_poor_faces_out() -> None:
    x, _ = _blobs(3, 6)
    quality = np.ones(18)
    quality[[0, 6]] = 0.1
    res = cluster_faces(x, threshold=0.9, quality=quality, quality_floor=0.5)
    assert res.labels[0] == -1 and res.labels[6] == -1
    assert res.n_clusters == 3


def test_fixed_labels_are_kept_and_never_merged() -> None:
    x, _ = _blobs(3, 6)
    fixed = np.full(18, -1, np.int64)
    fixed[0] = 40  # person A named 40
    fixed[1] = 41  # a second face of A that the user named as someone else
    fixed[6] = 40  # a face of B also named 40 (the user's call: never moved)
    res = cluster_faces(x, threshold=0.9, fixed=fixed)
    assert res.labels[0] == 40 and res.labels[1] == 41 and res.labels[6] == 40
    # A's free faces follow one of A's names, not a fresh cluster
    assert set(res.labels[2:6]) <= {40, 41}
    # the fresh cluster (C) is numbered above every fixed label
    assert set(res.labels[12:18]) == {42}


def test_cannot_link_keeps_a_face_out_of_that_label() -> None:
    x, _ = _blobs(2, 6)
    fixed = np.full(12, -1, np.int64)
    fixed[0] = 3
    res = cluster_faces(x, threshold=0.9, fixed=fixed, cannot_link=[(2, 3)])
    assert res.labels[2] == -1
    assert (res.labels[[1, 3, 4, 5]] == 3).all()


def test_results_do_not_depend_on_input_order() -> None:
    x, truth = _blobs(15, 4, seed=3)
    perm = np.random.default_rng(1).permutation(len(x))
    a = cluster_faces(x, threshold=0.9)
    b = cluster_faces(x[perm], threshold=0.9)
    assert (
        score_clusters(a.labels, truth).pairwise_f
        == score_clusters(b.labels, truth[perm]).pairwise_f
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"embeddings": np.ones((3, 4), np.float32)}, "L2-normalised"),
        ({"embeddings": np.full((2, 4), np.nan, np.float32)}, "finite"),
        ({"embeddings": np.ones(4, np.float32)}, r"\(N, D\)"),
        ({"threshold": 1.5}, "threshold"),
        ({"min_size": 0}, "min_size"),
        ({"method": "kmeans"}, "unknown clustering method"),
        ({"quality": np.ones(3)}, "quality must have shape"),
        ({"fixed": np.ones(10)}, "fixed must be integers"),
        ({"cannot_link": [(99, 0)]}, "out of range"),
        ({"cannot_link": [(1,)]}, "pairs"),
        ({"k": 0}, "k must be"),
    ],
)
def test_bad_arguments_raise_one_clear_error(kwargs: dict, message: str) -> None:
    x, _ = _blobs(2, 5)
    args = {"embeddings": x, **kwargs}
    with pytest.raises(InvalidArgumentError, match=message):
        cluster_faces(**args)


def test_empty_and_single_inputs() -> None:
    assert cluster_faces(np.zeros((0, 8), np.float32)).n_clusters == 0
    assert cluster_faces(np.zeros((0, 0), np.float32)).labels.shape == (0,)
    res = cluster_faces(np.eye(1, 8, dtype=np.float32))
    assert res.labels.tolist() == [-1]


# --- metrics -------------------------------------------------------------------------------------


def test_scores_by_hand() -> None:
    truth = [0, 0, 0, 1, 1, 2]
    labels = [5, 5, 7, 7, -1, -1]
    s = score_clusters(labels, truth)
    # predicted pairs: (0,1) true, (2,3) false; true pairs: 3 + 1 = 4
    assert s.pairwise_precision == pytest.approx(0.5)
    assert s.pairwise_recall == pytest.approx(0.25)
    # BCubed precision per face: 1, 1, .5, .5, 1, 1; recall: 2/3, 2/3, 1/3, 1/2, 1/2, 1
    assert s.bcubed_precision == pytest.approx(5 / 6)
    assert s.bcubed_recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 0.5 + 0.5 + 1) / 6)
    assert (s.clusters, s.unclustered, s.identities) == (2, 2, 3)
    assert isinstance(s, ClusterScores)


def test_scores_of_perfect_and_empty_clusterings() -> None:
    truth = np.array([0, 0, 1, 1, 2])
    perfect = score_clusters([1, 1, 0, 0, -1], truth)
    assert perfect.pairwise_f == 1.0 and perfect.bcubed_f == 1.0
    nothing = score_clusters([-1] * 5, truth)
    assert nothing.pairwise_precision == 1.0 and nothing.pairwise_recall == 0.0
    with pytest.raises(InvalidArgumentError):
        score_clusters([0, 1], [0])


# --- real photos ---------------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.slow
def test_real_photos_cluster_by_person(photos: Path) -> None:
    from faceprint.pipeline import FaceAnalyzer

    files = {
        "obama": ["obama.jpg", "obama2.jpg", "test_images/obama3.jpg", "obama_small.jpg"],
        "biden": ["biden.jpg", "knn_examples/train/biden/biden2.jpg"],
        "kit": [
            "knn_examples/train/kit_harington/john1.jpeg",
            "knn_examples/train/kit_harington/john2.jpeg",
        ],
        "rose": [
            "knn_examples/train/rose_leslie/img1.jpg",
            "knn_examples/train/rose_leslie/img2.jpg",
        ],
        "alex": ["knn_examples/train/alex_lacamoire/img1.jpg"],
    }
    fa = FaceAnalyzer("dlib")
    x, truth = [], []
    for person, names in enumerate(files.values()):
        for name in names:
            x.append(fa.embed_one(photos / name).embedding)
            truth.append(person)
    res = cluster_faces(np.stack(x))
    s = score_clusters(res.labels, truth)
    assert s.pairwise_precision == 1.0  # no cluster mixes two people
    assert s.pairwise_recall == 1.0  # each person with 2+ photos in one cluster
    assert res.labels[-1] == -1  # Alex (one photo) stays unclustered


# --- the default method's merge stage ------------------------------------------------------------


def _pair_at(cos: float, dim: int = 16, seed: int = 0) -> np.ndarray:
    """Two unit vectors with exactly this cosine."""
    rng = np.random.default_rng(seed)
    a, b = np.linalg.qr(rng.normal(size=(dim, 2)))[0].T
    return np.stack([a, cos * a + np.sqrt(1 - cos**2) * b]).astype(np.float32)


def test_merge_needs_the_pair_threshold_for_two_lone_faces() -> None:
    from faceprint.cluster.default import average_linkage_merge

    x = _pair_at(0.94)
    alone = np.array([-1, -1])
    assert len(set(average_linkage_merge(x, alone, 0.93, pair_threshold=0.95))) == 2
    assert len(set(average_linkage_merge(x, alone, 0.93, pair_threshold=0.935))) == 1


def test_merge_uses_average_linkage_of_whole_clusters() -> None:
    from faceprint.cluster.default import average_linkage_merge

    x, truth = _blobs(2, 6, spread=0.05, seed=4)
    cross = float((x[:6].sum(0) @ x[6:].sum(0)) / 36)  # the exact average linkage
    labels = truth.copy()
    assert len(set(average_linkage_merge(x, labels, cross + 1e-3))) == 2
    assert len(set(average_linkage_merge(x, labels, cross - 1e-3))) == 1


def test_default_thresholds_per_pack_and_augmentation() -> None:
    from faceprint.cluster import default_threshold

    assert default_threshold("dlib") == 0.937
    assert default_threshold("dlib", augment="flip") == 0.9405
    assert default_threshold("dlib-reference") == 0.937
    assert default_threshold("yunet-mobilefacenet") == 0.5  # chosen on LFW peopleDevTrain
    assert default_threshold("scrfd-mobilefacenet") == 0.5
    # a method without a measured threshold uses the pack's verification threshold
    assert default_threshold("yunet-mobilefacenet", "components") == pytest.approx(0.2726)
