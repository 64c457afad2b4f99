"""Every index backend against brute force: search, threshold, deletes, save/load, corruption."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceprint.bench.synth import make_gallery, synth_spec
from faceprint.errors import IndexCorruptError
from faceprint.index import (
    IndexManifest,
    SearchResult,
    VectorIndex,
    create_index,
    ids_checksum,
    list_backends,
    load_index,
)

N, DIM, K = 2000, 64, 10
HAS_MILVUS = (
    importlib.util.find_spec("pymilvus") is not None
    and importlib.util.find_spec("milvus_lite") is not None
)
milvus_only = pytest.mark.skipif(not HAS_MILVUS, reason="pymilvus / milvus-lite not installed")

# backend, parameters, how exact its results are: "ids" (same ids as brute force), a score
# tolerance (quantised exact search), or a minimum recall@1 (approximate) with exact scores
CASES: list[tuple[str, dict[str, Any], str, float]] = [
    ("exact", {}, "ids", 0.0),
    ("exact", {"threads": 2, "block_rows": 300, "gemm_min_queries": 1000}, "ids", 0.0),
    ("exact-f16", {}, "scores", 2e-3),
    ("exact-f16", {"gemm_min_queries": 1}, "scores", 2e-3),
    ("exact-int8", {}, "scores", 2e-2),
    ("exact-int8", {"scale": "global", "gemm_min_queries": 1}, "scores", 2e-2),
    ("hnsw", {"M": 16, "ef_construction": 80}, "recall", 0.97),
    ("ivfpq", {}, "ids", 0.0),  # below min_train: exact over the stored vectors
    (
        "ivfpq",
        {"nlist": 16, "m": 8, "min_train": 500, "nprobe": 8, "shortlist": 200},
        "recall",
        0.9,
    ),
    (
        "ivfpq",
        {"fastscan": True, "nlist": 16, "min_train": 500, "nprobe": 8, "shortlist": 200},
        "recall",
        0.9,
    ),
    ("binary", {"shortlist": 400}, "recall", 0.9),
    ("binary", {"rotation": "random", "shortlist": 400, "threads": 2}, "recall", 0.9),
    ("binary", {"rotation": "none", "shortlist": 400, "mmap": False}, "recall", 0.9),
    ("pq", {}, "ids", 0.0),  # below min_train: exact over the stored vectors
    ("pq", {"min_train": 500, "shortlist": 200}, "recall", 0.9),
    (
        "pq",
        {"m": 16, "min_train": 500, "shortlist": 300, "threads": 1, "mmap": False},
        "recall",
        0.9,
    ),
    ("milvus", {}, "ids", 0.0),
]
PARAMS = [
    pytest.param(c, id=f"{c[0]}-{i}", marks=[milvus_only] if c[0] == "milvus" else [])
    for i, c in enumerate(CASES)
]


@pytest.fixture(scope="module")
def data() -> Any:
    """Realistic clustered embeddings: 400 identities x 5 templates, probes of known and new."""
    g = make_gallery(N, synth_spec("arcface", dim=DIM), probes=40, seed=3)
    rng = np.random.default_rng(0)
    ids = rng.choice(10**9, N, replace=False).astype(np.int64) + 1  # sparse, unordered ids
    return g.vectors, ids, g.probes


def brute(vectors: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> SearchResult:
    s = q @ vectors.T
    order = np.argsort(-s, axis=1)[:, :k]
    return SearchResult(np.take_along_axis(s, order, 1).astype(np.float32), ids[order])


def make(backend: str, params: dict[str, Any], tmp_path: Path) -> VectorIndex:
    if backend == "milvus":
        params = {"uri": str(tmp_path / "milvus.db"), "collection": "t", **params}
    return create_index(backend, DIM, **params)


def check_against(r: SearchResult, ref: SearchResult, mode: str, tol: float, lookup: Any) -> None:
    assert r.ids.shape == ref.ids.shape and r.scores.dtype == np.float32
    assert np.all(np.diff(r.scores, axis=1) <= 1e-6), "scores must be descending"
    if mode == "ids":
        np.testing.assert_array_equal(r.ids, ref.ids)
        np.testing.assert_allclose(r.scores, ref.scores, atol=1e-5)
    elif mode == "scores":  # quantised: the k-th best score is reproduced within tol
        np.testing.assert_allclose(r.scores, ref.scores, atol=tol)
        assert np.mean(r.ids[:, 0] == ref.ids[:, 0]) >= 0.9
    else:  # approximate: returned scores are the true cosines, top-1 mostly right
        np.testing.assert_allclose(r.scores, lookup(r.ids), atol=1e-5)
        assert np.mean(r.ids[:, 0] == ref.ids[:, 0]) >= tol


def _build(backend: str, params: dict[str, Any], data: Any, tmp: Path) -> VectorIndex:
    vectors, ids, _ = data
    index = make(backend, params, tmp)
    index.add(ids[: N // 2], vectors[: N // 2])  # two batches: growth and training paths
    index.add(ids[N // 2 :], vectors[N // 2 :])
    return index


@pytest.fixture(scope="module", params=PARAMS)
def built(
    request: pytest.FixtureRequest, data: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """Each case built once per module (read-only tests share it) and saved for the others."""
    backend, params, mode, tol = request.param
    tmp = tmp_path_factory.mktemp(backend)
    index = _build(backend, params, data, tmp)
    saved = tmp / "saved"
    if backend != "milvus":
        index.save(saved, fingerprint="base")
    yield index, mode, tol, (backend, params, saved, index.manifest(fingerprint="base"), tmp)
    index.close()


@pytest.fixture
def case(built: Any) -> Any:
    """A read-only view of the module's index."""
    return built[:3]


@pytest.fixture
def own(built: Any, data: Any, tmp_path: Path) -> Any:
    """A private copy to change: loaded from the saved one (Milvus: built afresh)."""
    _, mode, tol, (backend, params, saved, manifest, _) = built
    if backend == "milvus":  # one collection per database file: a fresh file per test
        index = _build(backend, params, data, tmp_path)
    else:
        index = load_index(saved, expect=manifest)
    yield index, mode, tol
    index.close()


def _lookup(vectors: np.ndarray, ids: np.ndarray, q: np.ndarray) -> Any:
    row = {int(i): r for r, i in enumerate(ids)}

    def scores_of(found: np.ndarray) -> np.ndarray:
        out = np.full(found.shape, -np.inf, np.float32)
        for (a, b), i in np.ndenumerate(found):
            if i >= 0:
                out[a, b] = vectors[row[int(i)]] @ q[a]
        return out

    return scores_of


def test_search_matches_brute_force(case: Any, data: Any) -> None:
    index, mode, tol = case
    vectors, ids, probes = data
    assert len(index) == N
    assert sorted(index.ids().tolist()) == sorted(ids.tolist())
    batch = index.search(probes, K)
    check_against(batch, brute(vectors, ids, probes, K), mode, tol, _lookup(vectors, ids, probes))
    for q in (probes[:1], probes[:3]):  # single-query paths agree with the batch path
        r = index.search(q, K)
        np.testing.assert_array_equal(r.ids[:, :3], batch.ids[: len(q), :3])
        np.testing.assert_allclose(r.scores, batch.scores[: len(q)], atol=tol or 1e-5)


def test_threshold_pads_below(case: Any, data: Any) -> None:
    index, mode, _ = case
    vectors, _, probes = data
    thr = 0.3
    r = index.search(probes, K, threshold=thr)
    assert np.all(r.scores[r.valid] >= thr - 0.02)
    assert np.all(r.ids[~np.isfinite(r.scores)] == -1)
    assert np.all(np.isneginf(r.scores[~r.valid]))
    expected = np.minimum((probes @ vectors.T >= thr).sum(axis=1), K)
    if mode == "ids":
        np.testing.assert_array_equal(r.valid.sum(axis=1), expected)
    else:
        assert np.all(r.valid.sum(axis=1) <= expected + 2)
        assert r.valid.sum() >= 0.8 * expected.sum()


def test_k_larger_than_count_pads(case: Any, data: Any) -> None:
    index, _, _ = case
    r = index.search(data[2][:2], N + 5)
    assert r.ids.shape == (2, N + 5)
    assert np.all(r.ids[:, N:] == -1) and np.all(np.isneginf(r.scores[:, N:]))
    assert len(np.unique(r.ids[0][r.ids[0] >= 0])) == r.valid[0].sum()


def test_add_refuses_duplicates_and_bad_vectors(case: Any, data: Any) -> None:
    index, _, _ = case
    vectors, ids, _ = data
    with pytest.raises(ValueError, match="already in the index"):
        index.add(ids[:3], vectors[:3])
    with pytest.raises(ValueError, match="L2-normalised"):
        index.add(np.array([-5]), 2 * vectors[:1])
    with pytest.raises(ValueError, match="shape"):
        index.add(np.array([-5]), vectors[:1, :10])
    with pytest.raises(ValueError, match="unique"):
        index.add(np.array([-5, -5]), vectors[:2])
    assert len(index) == N


def test_deletes_are_real(own: Any, data: Any, tmp_path: Path) -> None:
    index, _, _ = own
    vectors, ids, probes = data
    top = index.search(probes, K).ids
    gone = np.unique(top[:, :3][top[:, :3] >= 0])
    assert index.remove(np.concatenate([gone, gone[:2], [-77]])) == len(gone)
    assert len(index) == N - len(gone)
    assert not np.isin(index.ids(), gone).any()
    for q in (probes[:1], probes):
        assert not np.isin(index.search(q, K).ids, gone).any()
    assert not np.isin(index.search(probes, N).ids, gone).any()  # even with k = everything
    index.save(tmp_path / "ix", fingerprint="g1")
    again = load_index(tmp_path / "ix", expect=index.manifest(fingerprint="g1"))
    try:
        assert len(again) == len(index)
        assert not np.isin(again.search(probes, N).ids, gone).any()
        again.add(gone[:1], vectors[np.flatnonzero(ids == gone[0])])  # a removed id may return
        assert gone[0] in again.ids()
    finally:
        again.close()


def test_save_load_round_trip(own: Any, data: Any, tmp_path: Path) -> None:
    index, _, _ = own
    probes = data[2]
    before = index.search(probes, K)
    index.save(tmp_path / "ix", fingerprint="uuid-1", pack="dlib")
    index.save(tmp_path / "ix", fingerprint="uuid-1", pack="dlib")  # overwrite in place
    manifest = index.manifest(fingerprint="uuid-1", pack="dlib")
    index.close()
    loaded = load_index(tmp_path / "ix", expect=manifest)
    try:
        assert type(loaded) is type(index) and len(loaded) == N
        after = loaded.search(probes, K)
        np.testing.assert_array_equal(after.ids, before.ids)
        np.testing.assert_allclose(after.scores, before.scores, atol=1e-6)
        assert loaded.nbytes > 0
    finally:
        loaded.close()


def test_load_refuses_stale_missing_or_corrupt(own: Any, data: Any, tmp_path: Path) -> None:
    index, _, _ = own
    path = tmp_path / "ix"
    with pytest.raises(IndexCorruptError, match="missing"):
        type(index).load(path, expect=index.manifest())
    index.save(path, fingerprint="f1", pack="dlib")
    good = index.manifest(fingerprint="f1", pack="dlib")
    index.close()
    stale = [
        replace(good, checksum=ids_checksum(index.ids()[1:], fingerprint="f1")),
        replace(good, count=good.count + 1),
        index.manifest(fingerprint="f2", pack="dlib"),
        replace(good, pack="other"),
    ]
    for expect in stale:
        with pytest.raises(IndexCorruptError):
            load_index(path, expect=expect)
    for name in sorted(os.listdir(path)):
        _corrupt_copy_and_load(path, name, good, tmp_path)


def _corrupt_copy_and_load(path: Path, name: str, good: IndexManifest, tmp: Path) -> None:
    import shutil

    for how in ("flip", "truncate", "delete"):
        bad = tmp / f"bad-{name}-{how}"
        shutil.copytree(path, bad)
        target = bad / name
        raw = bytearray(target.read_bytes())
        if how == "flip" and raw:
            raw[len(raw) // 2] ^= 0x5A
            target.write_bytes(bytes(raw))
        elif how == "truncate":
            target.write_bytes(bytes(raw[: len(raw) // 2]))
        else:
            target.unlink()
        if how == "flip" and not raw:
            continue
        with pytest.raises(IndexCorruptError):
            load_index(bad, expect=good).close()


def test_empty_index(tmp_path: Path) -> None:
    for backend in list_backends():
        if backend == "milvus" and not HAS_MILVUS:
            continue
        index = make(backend, {}, tmp_path)
        r = index.search(np.ones((2, DIM), np.float32) / np.sqrt(DIM), 3)
        assert np.all(r.ids == -1) and np.all(np.isneginf(r.scores))
        assert index.remove(np.array([1, 2])) == 0
        index.save(tmp_path / backend, fingerprint="e")
        loaded = load_index(tmp_path / backend, expect=index.manifest(fingerprint="e"))
        assert len(loaded) == 0
        loaded.close()
        index.close()
