"""Index building blocks and backend-specific behaviour: top-k, id sets, checksums, registry,
HNSW tombstones and rebuild, the binary cascade's memory, stale build parameters."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
import pytest

from faceprint.bench.synth import make_gallery, synth_spec
from faceprint.errors import IndexCorruptError, InvalidArgumentError, MissingDependencyError
from faceprint.index import (
    IndexManifest,
    SearchResult,
    create_index,
    ids_checksum,
    list_backends,
    load_index,
    state_checksum,
)
from faceprint.index._util import IdMap, IdSet, TopK, threshold_floor


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("k", [1, 5, 40])
@pytest.mark.parametrize("block", [7, 64, 1000])
def test_topk_over_blocks_equals_full_sort(k: int, block: int) -> None:
    rng = np.random.default_rng(k * block)
    scores = rng.standard_normal((6, 500)).astype(np.float32)
    ids = rng.choice(10**6, 500, replace=False).astype(np.int64)
    acc = TopK(6, k, threshold_floor(0.5))
    for s in range(0, 500, block):
        acc.push(scores[:, s : s + block], ids[s : s + block])
    got_s, got_i = acc.result()
    order = np.argsort(-scores, axis=1)[:, :k]
    want_s = np.take_along_axis(scores, order, 1)
    want_i = np.where(want_s >= 0.5, ids[order], -1)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s[got_i >= 0], want_s[want_i >= 0])
    assert np.all(np.isneginf(got_s[got_i < 0]))


def test_threshold_is_inclusive() -> None:
    acc = TopK(1, 3, threshold_floor(0.25))
    acc.push(np.array([[0.25, 0.2499, 0.3]], np.float32), np.array([1, 2, 3]))
    _, i = acc.result()
    assert i.tolist() == [[3, 1, -1]]


def test_id_set_and_map() -> None:
    s = IdSet(np.array([5, 1, 9]))
    s.add(np.array([3, 7]))
    assert s.contains(np.array([1, 2, 3, 9, 10])).tolist() == [True, False, True, True, False]
    assert s.discard(np.array([9, 9, 4])).tolist() == [9]
    assert s.values().tolist() == [1, 3, 5, 7]
    m = IdMap(np.array([10, 2]), np.array([0, 1]))
    m.add(np.array([7]), np.array([2]))
    assert m.lookup(np.array([2, 7, 10, 11])).tolist() == [1, 2, 0, -1]
    gone, rows = m.discard(np.array([10, 99]))
    assert gone.tolist() == [10] and rows.tolist() == [0] and len(m) == 2


def test_checksums_agree_with_sql_aggregates() -> None:
    ids = np.array([3, 10, 2**40 + 1, 7], np.int64)
    want = state_checksum(4, 2**40 + 1, 3 + 10 + 2**40 + 1 + 7, fingerprint="g")
    assert ids_checksum(ids[::-1], fingerprint="g") == want
    assert ids_checksum(ids, fingerprint="h") != want
    assert ids_checksum(ids[:3], fingerprint="g") != want
    assert ids_checksum([], fingerprint="g") == state_checksum(0, 0, 0, fingerprint="g")


def test_registry_errors() -> None:
    assert {"exact", "exact-f16", "exact-int8", "hnsw", "ivfpq", "binary", "pq", "milvus"} <= set(
        list_backends()
    )
    with pytest.raises(ValueError, match=r"known: .*exact.*hnsw"):
        create_index("annoy", 8)
    with pytest.raises(ValueError, match="bad parameters"):
        create_index("hnsw", 8, efsearch=3)
    with pytest.raises(ValueError, match="uri"):
        create_index("milvus", 8)


def test_missing_milvus_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # import pymilvus -> ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "faceprint\[milvus\]"'):
        create_index("milvus", 8, uri="x.db")


def test_search_validates_queries() -> None:
    index = create_index("exact", 8)
    index.add(np.arange(3), unit(np.random.default_rng(0), 3, 8))
    with pytest.raises(ValueError, match=r"\(Q, 8\)"):
        index.search(np.zeros((2, 5), np.float32), 1)
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.ones((1, 8), np.float32), 0)
    r = index.search(unit(np.random.default_rng(1), 1, 8)[0], 2)  # a single 1-D query
    assert isinstance(r, SearchResult) and r.ids.shape == (1, 2)


def test_exact_removal_keeps_every_other_vector() -> None:
    rng = np.random.default_rng(0)
    x, ids = unit(rng, 300, 16), np.arange(1000, 1300)
    index = create_index("exact", 16, block_rows=17)
    index.add(ids, x)
    drop = rng.choice(ids, 120, replace=False)
    assert index.remove(drop) == 120
    keep = ~np.isin(ids, drop)
    r = index.search(x[keep], 1)  # every remaining vector still finds itself
    np.testing.assert_array_equal(r.ids[:, 0], ids[keep])
    np.testing.assert_allclose(r.scores[:, 0], 1.0, atol=1e-5)


def test_hnsw_tombstones_then_rebuild() -> None:
    rng = np.random.default_rng(0)
    x, ids = unit(rng, 1000, 16), np.arange(1000)
    index = create_index("hnsw", 16, M=8, rebuild_fraction=0.3)
    index.add(ids, x)
    index.remove(ids[:200])
    assert index.tombstones == 200 and len(index) == 800
    r = index.search(x[:300], 5)
    assert not np.isin(r.ids, ids[:200]).any()
    assert (r.ids >= 0).all()  # every row still full: removed nodes are skipped, not dropped
    index.remove(ids[200:400])  # 400 / 1000 > 0.3: rebuilt without tombstones
    assert index.tombstones == 0 and len(index) == 600
    r = index.search(x[400:], 1)
    assert np.mean(r.ids[:, 0] == ids[400:]) > 0.99


def test_binary_cascade_memory_with_mmap(tmp_path: Path) -> None:
    g = make_gallery(4000, synth_spec("arcface", dim=128), probes=10)
    index = create_index("binary", 128, rotation="random")
    index.add(g.ids, g.vectors)
    assert index.code_bytes == 4000 * 16  # 1 bit per dimension
    index.save(tmp_path / "b")
    loaded = load_index(tmp_path / "b", expect=index.manifest())
    float_bytes = 4000 * 128 * 4
    assert loaded.mapped_bytes == float_bytes  # full vectors stay on disk
    assert loaded.nbytes <= float_bytes / 4 + 128 * 128 * 4 + 4 * 128  # codes + ids + rotation
    before = index.search(g.probes, 5)
    np.testing.assert_array_equal(loaded.search(g.probes, 5).ids, before.ids)
    loaded.add(np.array([10**6]), g.probes[:1])  # new rows go to RAM beside the map
    assert loaded.search(g.probes[:1], 1).ids[0, 0] == 10**6


@pytest.mark.parametrize(
    ("backend", "built", "wanted"),
    [
        ("hnsw", {"M": 8}, {"M": 16}),
        ("ivfpq", {"m": 4}, {"m": 8}),
        ("ivfpq", {"fastscan": True, "min_train": 16, "nlist": 4}, {"fastscan": False}),
        ("binary", {"rotation": "random"}, {"rotation": "itq"}),
        ("pq", {"m": 4}, {"m": 8}),
        ("exact-int8", {"scale": "global"}, {}),  # default is per-dim
    ],
)
def test_other_build_parameters_are_stale(
    backend: str, built: dict[str, object], wanted: dict[str, object], tmp_path: Path
) -> None:
    index = create_index(backend, 16, **built)
    index.add(np.arange(50), unit(np.random.default_rng(0), 50, 16))
    index.save(tmp_path / "i")
    m = index.manifest()
    with pytest.raises(IndexCorruptError, match="parameter"):
        load_index(tmp_path / "i", expect=IndexManifest(**{**m.to_dict(), "params": wanted}))
    search_only = {
        "hnsw": "ef_search",
        "ivfpq": "nprobe",
        "binary": "shortlist",
        "pq": "shortlist",
    }.get(backend)
    if search_only:  # search parameters may change: they apply to the loaded index
        loaded = load_index(
            tmp_path / "i",
            expect=IndexManifest(**{**m.to_dict(), "params": {**built, search_only: 7}}),
        )
        assert loaded.params[search_only] == 7


@pytest.mark.parametrize("backend", ["ivfpq", "pq"])
@pytest.mark.parametrize("dim", [128, 130, 512, 7])
def test_default_pq_sizes_divide_any_dim(backend: str, dim: int) -> None:
    index = create_index(backend, dim)
    assert dim % index.params["m"] == 0
    if dim in (128, 512):  # the shipped sizes (ivfpq: 8 bits per sub-quantizer, pq: 4)
        assert (
            index.params["m"]
            == {"ivfpq": {128: 32, 512: 64}, "pq": {128: 64, 512: 64}}[backend][dim]
        )


def test_ivfpq_fastscan_sizes_and_bits() -> None:
    assert create_index("ivfpq", 128, fastscan=True).params | {"m": 64, "nbits": 4} == (
        create_index("ivfpq", 128, fastscan=True).params
    )
    assert create_index("ivfpq", 512, fastscan=True).params["m"] == 128
    with pytest.raises(InvalidArgumentError, match="fastscan needs nbits=4"):
        create_index("ivfpq", 128, fastscan=True, nbits=8)


@pytest.mark.parametrize(
    ("backend", "params"),
    [
        ("ivfpq", {"fastscan": True, "nlist": 16, "min_train": 500}),
        ("pq", {"min_train": 500}),
        ("binary", {}),
    ],
)
def test_scratch_keeps_the_build_on_disk_with_the_same_answers(
    backend: str, params: dict[str, object], tmp_path: Path
) -> None:
    g = make_gallery(3000, synth_spec("dlib"), probes=20)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    in_ram = create_index(backend, 128, **params)
    on_disk = create_index(backend, 128, scratch=scratch, **params)
    for s in range(0, 3000, 700):  # several adds: the map is renewed as the file grows
        in_ram.add(g.ids[s : s + 700], g.vectors[s : s + 700])
        on_disk.add(g.ids[s : s + 700], g.vectors[s : s + 700])
    assert on_disk.mapped_bytes == 3000 * 128 * 4  # the vectors are in the scratch file ...
    assert in_ram.nbytes - on_disk.nbytes == 3000 * 128 * 4  # ... not in RAM
    assert list(scratch.iterdir()) == []  # unlinked: nothing to clean up after a crash
    want = in_ram.search(g.probes, 10)
    got = on_disk.search(g.probes, 10)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.scores, want.scores)
    on_disk.remove(g.ids[:100])
    on_disk.save(tmp_path / "i")
    loaded = load_index(tmp_path / "i", expect=on_disk.manifest())
    assert "scratch" not in loaded.params  # a machine's folder, not part of the index
    in_ram.remove(g.ids[:100])
    np.testing.assert_array_equal(loaded.search(g.probes, 10).ids, in_ram.search(g.probes, 10).ids)
    with pytest.raises(InvalidArgumentError, match="scratch must be an existing folder"):
        create_index(backend, 128, scratch=tmp_path / "missing")


def _mapped_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1].isalnum() and "-" in line.split()[0]:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc/self/smaps")
@pytest.mark.parametrize("backend", ["ivfpq", "pq", "binary"])
def test_prefault_maps_every_page_of_the_vectors_at_load(backend: str, tmp_path: Path) -> None:
    g = make_gallery(4000, synth_spec("dlib"), probes=20)
    index = create_index(backend, 128, min_train=1000)
    index.add(g.ids, g.vectors)
    index.save(tmp_path / "i")
    m = index.manifest()
    vectors = (tmp_path / "i" / "vectors.f32").resolve()
    opened = {}
    for prefault in (False, True):
        expect = IndexManifest(**{**m.to_dict(), "params": {**m.params, "prefault": prefault}})
        opened[prefault] = load_index(tmp_path / "i", expect=expect)
        assert opened[prefault].params["prefault"] is prefault
        assert opened[prefault].mapped_bytes == 4000 * 128 * 4
    # the load's checksum read the file, but only prefault maps its pages into this process
    assert _mapped_kib(vectors) * 1024 >= 4000 * 128 * 4
    del opened[True]
    gc.collect()
    assert _mapped_kib(vectors) == 0  # the other map was never touched
    np.testing.assert_array_equal(
        opened[False].search(g.probes, 5).ids, index.search(g.probes, 5).ids
    )


@pytest.mark.parametrize("holes", [0.0, 0.3, 0.7])  # 0.7: too sparse for the direct table
def test_id_map_direct_table_answers_like_the_sorted_arrays(holes: float) -> None:
    rng = np.random.default_rng(3)
    ids = np.arange(100, 100 + 20000, dtype=np.int64)
    ids = rng.permutation(ids[rng.random(len(ids)) >= holes])
    m = IdMap(ids, np.arange(len(ids), dtype=np.int64))
    truth = dict(zip(ids.tolist(), range(len(ids))))
    queries = np.concatenate(
        [ids[:500], rng.integers(-50, 20200, 2000), np.array([-(2**63), 2**63 - 1, 0, 99])]
    )
    for step in range(3):  # lookups, then changes (the table is rebuilt after each)
        want = [truth.get(int(i), -1) for i in queries]
        assert m.lookup(queries).tolist() == want
        assert (m._table is not None) == (holes < 0.5)
        if step == 0:
            gone, _ = m.discard(ids[:300])
            for i in gone.tolist():
                del truth[i]
        else:
            new = np.array([20100 + step, 5 + step], np.int64)
            m.add(new, np.array([-7, -8], np.int64) + step)
            truth.update({int(new[0]): -7 + step, int(new[1]): -8 + step})


def test_ivfpq_opq_rotation_is_orthogonal_saved_and_ranks_like_exact(tmp_path: Path) -> None:
    g = make_gallery(6000, synth_spec("dlib"), probes=200, open_set_fraction=0.0)
    params = {"fastscan": True, "nlist": 16, "min_train": 2000, "nprobe": 16, "shortlist": 64}
    index = create_index("ivfpq", 128, rotation="opq", **params)
    index.add(g.ids, g.vectors)
    rot = index._rot
    assert rot is not None
    np.testing.assert_allclose(rot @ rot.T, np.eye(128), atol=1e-4)  # inner products kept
    exact = create_index("exact", 128)
    exact.add(g.ids, g.vectors)
    want = exact.search(g.probes, 1)
    got = index.search(g.probes, 1)
    assert np.mean(got.ids[:, 0] == want.ids[:, 0]) >= 0.99
    np.testing.assert_allclose(got.scores[:, 0], want.scores[:, 0], atol=1e-6)  # exact re-rank
    index.save(tmp_path / "i")
    loaded = load_index(tmp_path / "i", expect=index.manifest())
    np.testing.assert_array_equal(loaded.search(g.probes, 5).ids, index.search(g.probes, 5).ids)
    with pytest.raises(IndexCorruptError, match="parameter"):  # built with another rotation
        m = index.manifest()
        load_index(
            tmp_path / "i",
            expect=IndexManifest(**{**m.to_dict(), "params": {**m.params, "rotation": "none"}}),
        )
    with pytest.raises(InvalidArgumentError, match="rotation must be"):
        create_index("ivfpq", 128, rotation="pca")
