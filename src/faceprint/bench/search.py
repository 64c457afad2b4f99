"""``faceprint bench search``: every index backend on the same synthetic gallery.

For each backend: build time (one bulk ``add`` of all templates, training included), RAM per
face (``VectorIndex.nbytes``) and memory-mapped bytes, save time and size on disk, open time
(``load_index`` with full verification; page cache warm, as after a save), single-query latency
p50/p99, throughput in batches of 64, recall@1 and recall@10 against exact float32 search, and
open-set identification at the operating threshold:

- probes are fresh noisy templates, half of enrolled identities and half of identities that are
  not enrolled (see :mod:`faceprint.bench.synth`);
- the operating threshold (unless given) is where 1% of a separate set of non-enrolled probes
  would be accepted by exact search (FPIR = 1%);
- an enrolled probe is right when its top-1 template is of its identity and scores at least the
  threshold (DIR), a non-enrolled one when its top-1 scores below it; ``accuracy`` counts both.

The memory-bandwidth bound of exact search is measured in the same run: the time of a plain
``numpy.sum`` over the float32 gallery matrix (one thread), and of the same sum split over the
worker threads.

Galleries over :data:`ON_DISK_BYTES` as float32 (10M x 128 is 5.1 GB) are generated in chunks
into a ``.npy`` file in the work folder and memory-mapped; the exact ground truth is then a
chunked brute-force scan of that file, and each backend is given the templates in adds of
:data:`ADD_ROWS` (the backends train on their first add: a sample of the same distribution).
Backends that re-rank on full vectors (``ivfpq``, ``pq``, ``binary``) then build with
``scratch=`` the work folder (unless a ``scratch`` parameter is given), keeping the vectors on
disk while they build, so peak memory is about one backend's compact codes: what makes
10M x 512 (20.5 GB of float32) fit a machine with less RAM than that.
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult, computed
from faceprint.bench.synth import (
    SimilarityStats,
    SynthGallery,
    SynthSpec,
    make_gallery,
    similarity_stats,
    synth_spec,
)
from faceprint.errors import InvalidArgumentError
from faceprint.index import (
    SearchResult,
    VectorIndex,
    backend_class,
    create_index,
    load_index,
)
from faceprint.index._util import TopK, default_threads

__all__ = ["BackendResult", "SearchBenchReport", "run_search_bench"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BATCH = 64
#: galleries larger than this (float32 bytes) are generated on disk and memory-mapped
ON_DISK_BYTES = 2 << 30
#: templates per ``add`` call for a memory-mapped gallery
ADD_ROWS = 1 << 20
#: gallery rows per block of the chunked exact scan
SCAN_ROWS = 1 << 16


@dataclass(frozen=True)
class BackendResult(JsonResult):
    """Measurements of one backend (times in seconds unless the name says ms)."""

    backend: str
    params: dict[str, Any]
    n: int
    build_s: float
    ram_bytes: int
    save_s: float
    disk_bytes: int
    open_s: float
    open_ram_bytes: int
    mapped_bytes: int
    p50_ms: float
    p99_ms: float
    batch_qps: float
    recall_at_1: float
    recall_at_10: float
    recall_enrolled_at_1: float
    recall_open_at_1: float
    dir_rate: float
    fpir: float
    accuracy: float
    note: str = ""
    setting: str = ""

    json_computed = (computed("bytes_per_face"),)

    @property
    def bytes_per_face(self) -> float:
        return self.open_ram_bytes / max(self.n, 1)


@dataclass(frozen=True)
class SearchBenchReport(JsonResult):
    """One run: the data, the bandwidth bound and every backend's :class:`BackendResult`."""

    n: int
    dim: int
    preset: str
    spec: SynthSpec
    stats: SimilarityStats
    k: int
    threshold: float
    threshold_source: str
    sum_ms: float
    sum_threads_ms: float
    threads: int
    load_average: tuple[float, float]
    results: tuple[BackendResult, ...] = field(default_factory=tuple)

    def table(self) -> str:
        """A Markdown table of the results."""
        head = (
            "| backend | n | build s | RAM B/face | mapped MB | disk MB | open s | p50 ms | p99 ms "
            "| qps (x64) | R@1 | R@10 | R@1 enrolled | R@1 open | DIR | FPIR | acc |"
        )
        rows = [head, "|" + "---|" * 17]
        for r in self.results:
            rows.append(
                f"| {f'{r.backend} {r.setting}'.strip()} | {r.n} | {r.build_s:.1f} | {r.bytes_per_face:.0f} "
                f"| {r.mapped_bytes / 1e6:.0f} | {r.disk_bytes / 1e6:.0f} | {r.open_s:.2f} "
                f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.batch_qps:.0f} | {r.recall_at_1:.4f} "
                f"| {r.recall_at_10:.4f} | {r.recall_enrolled_at_1:.4f} | {r.recall_open_at_1:.4f} "
                f"| {r.dir_rate:.3f} | {r.fpir:.3f} | {r.accuracy:.3f} |"
            )
        bound = (
            f"bandwidth bound (sum over the {self.n}x{self.dim} float32 matrix): "
            f"{self.sum_ms:.1f} ms on 1 thread, {self.sum_threads_ms:.1f} ms on {self.threads}; "
            f"1-min load average before/after: {self.load_average[0]:.2f} / "
            f"{self.load_average[1]:.2f}"
        )
        return "\n".join([*rows, "", bound])


@dataclass(frozen=True)
class _Probes:
    """Evaluation probes with their labels, exact top-k, and the threshold."""

    queries: FloatArray
    labels: IntArray
    truth: IntArray  # (P, k) exact top-k ids


def _sum_time(x: FloatArray, threads: int, repeats: int = 5) -> tuple[float, float]:
    """Median ms of ``x.sum()`` on one thread and split over ``threads`` threads."""

    def one() -> float:
        t = time.perf_counter()
        x.sum(dtype=np.float32)
        return time.perf_counter() - t

    parts = np.array_split(np.arange(len(x)), threads)
    ranges = [(int(p[0]), int(p[-1]) + 1) for p in parts if len(p)]
    with ThreadPoolExecutor(threads) as pool:

        def many() -> float:
            t = time.perf_counter()
            list(pool.map(lambda r: x[r[0] : r[1]].sum(dtype=np.float32), ranges))
            return time.perf_counter() - t

        one(), many()
        single = float(np.median([one() for _ in range(repeats)])) * 1e3
        multi = float(np.median([many() for _ in range(repeats)])) * 1e3
    return single, multi


def _exact_topk(vectors: FloatArray, ids: IntArray, q: FloatArray, k: int) -> SearchResult:
    if isinstance(vectors, np.memmap):
        return _scan_topk(vectors, ids, q, k)
    index = create_index("exact", vectors.shape[1])
    index.add(ids, vectors)
    out = [index.search(q[s : s + 256], k) for s in range(0, len(q), 256)]
    index.close()
    return SearchResult(
        np.concatenate([r.scores for r in out]), np.concatenate([r.ids for r in out])
    )


def _scan_topk(vectors: FloatArray, ids: IntArray, q: FloatArray, k: int) -> SearchResult:
    """Exact top-k by a brute-force scan of ``vectors`` in blocks (nothing copied whole)."""
    acc = TopK(len(q), k)
    for s in range(0, len(vectors), SCAN_ROWS):
        block = np.asarray(vectors[s : s + SCAN_ROWS])
        acc.push(q @ block.T, ids[s : s + SCAN_ROWS])
    return SearchResult(*acc.result())


def _search_all(index: VectorIndex, q: FloatArray, k: int) -> tuple[SearchResult, float]:
    """All queries in batches of :data:`BATCH`; returns the results and queries per second."""
    index.search(q[:BATCH], k)
    t = time.perf_counter()
    out = [index.search(q[s : s + BATCH], k) for s in range(0, len(q), BATCH)]
    qps = len(q) / (time.perf_counter() - t)
    return SearchResult(
        np.concatenate([r.scores for r in out]), np.concatenate([r.ids for r in out])
    ), qps


def _latency(
    index: VectorIndex, q: FloatArray, k: int, count: int, budget_s: float
) -> npt.NDArray[np.float64]:
    for i in range(3):
        index.search(q[i : i + 1], k)
    times, start = [], time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        index.search(q[i % len(q) : i % len(q) + 1], k)
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget_s and len(times) >= 20:
            break
    return np.asarray(times) * 1e3


def _identification(
    res: SearchResult, probe_labels: IntArray, template_labels: IntArray, threshold: float
) -> tuple[float, float, float]:
    top_id, top_score = res.ids[:, 0], res.scores[:, 0]
    pred = np.where(top_id >= 0, template_labels[np.maximum(top_id - 1, 0)], -2)
    accepted = top_score >= threshold
    known = probe_labels >= 0
    dir_rate = float(np.mean((pred == probe_labels) & accepted & known) / max(known.mean(), 1e-12))
    fpir = float(np.mean(accepted[~known])) if (~known).any() else 0.0
    right = np.where(known, (pred == probe_labels) & accepted, ~accepted)
    return dir_rate, fpir, float(right.mean())


def _mean(x: npt.NDArray[Any]) -> float:
    return float(x.mean()) if x.size else float("nan")


def _recall(found: IntArray, truth: IntArray) -> tuple[float, float]:
    r1 = float(np.mean(found[:, 0] == truth[:, 0]))
    k = truth.shape[1]
    hits = [len(np.intersect1d(a[a >= 0], b)) for a, b in zip(found, truth, strict=True)]
    return r1, float(np.mean(hits) / k)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass(frozen=True)
class _Setup:
    gallery: SynthGallery
    probes: _Probes
    threshold: float
    k: int
    queries: int
    budget_s: float
    workdir: Path


@dataclass(frozen=True)
class _Built:
    """What building, saving and opening one backend measured."""

    n: int
    params: dict[str, Any]
    build_s: float
    ram_bytes: int
    save_s: float
    disk_bytes: int
    open_s: float
    note: str


def _takes_scratch(backend: str) -> bool:
    return "scratch" in inspect.signature(backend_class(backend)).parameters


def _build_and_open(
    setup: _Setup, backend: str, params: Mapping[str, Any], n: int
) -> tuple[VectorIndex, _Built]:
    vectors, ids = setup.gallery.vectors[:n], setup.gallery.ids[:n]
    on_disk = isinstance(vectors, np.memmap)
    if on_disk and "scratch" not in params and _takes_scratch(backend):
        params = {**params, "scratch": setup.workdir}
    index = create_index(backend, vectors.shape[1], **params)
    step = ADD_ROWS if on_disk else len(ids)
    t = time.perf_counter()
    for s in range(0, len(ids), max(step, 1)):
        index.add(ids[s : s + step], vectors[s : s + step])
    build_s, ram = time.perf_counter() - t, index.nbytes
    path = setup.workdir / backend
    t = time.perf_counter()
    index.save(path, fingerprint="bench", pack="synthetic")
    save_s = time.perf_counter() - t
    manifest = index.manifest(fingerprint="bench", pack="synthetic")
    index.close()
    del index
    gc.collect()
    t = time.perf_counter()
    index = load_index(path, expect=manifest)
    open_s = time.perf_counter() - t
    note = "" if n == len(setup.gallery.ids) else f"first {n} templates only"
    built = _Built(n, dict(params), build_s, ram, save_s, _dir_bytes(path), open_s, note)
    return index, built


def _query(
    setup: _Setup, index: VectorIndex, backend: str, built: _Built, truth: IntArray, setting: str
) -> BackendResult:
    p, g = setup.probes, setup.gallery
    lat = _latency(index, p.queries, setup.k, setup.queries, setup.budget_s)
    res, qps = _search_all(index, p.queries, setup.k)
    r1, r10 = _recall(res.ids, truth)
    # on a subset gallery, probes of identities without templates in it are not enrolled
    labels = np.where(np.isin(p.labels, g.labels[: built.n]), p.labels, -1)
    enrolled, hit1 = labels >= 0, res.ids[:, 0] == truth[:, 0]
    dir_rate, fpir, acc = _identification(res, labels, g.labels, setup.threshold)
    return BackendResult(
        backend=backend, params=dict(index.params), n=built.n, build_s=built.build_s,
        ram_bytes=built.ram_bytes, save_s=built.save_s, disk_bytes=built.disk_bytes,
        open_s=built.open_s, open_ram_bytes=index.nbytes,
        mapped_bytes=int(getattr(index, "mapped_bytes", 0)),
        p50_ms=float(np.percentile(lat, 50)), p99_ms=float(np.percentile(lat, 99)),
        batch_qps=qps, recall_at_1=r1, recall_at_10=r10,
        recall_enrolled_at_1=_mean(hit1[enrolled]), recall_open_at_1=_mean(hit1[~enrolled]),
        dir_rate=dir_rate, fpir=fpir,
        accuracy=acc, note=built.note, setting=setting,
    )  # fmt: skip


def _measure(
    setup: _Setup,
    backend: str,
    params: Mapping[str, Any],
    n: int,
    sweep: Sequence[Mapping[str, Any]],
) -> list[BackendResult]:
    """Build, save, open; then query once per search-time setting of ``sweep``."""
    g = setup.gallery
    index, built = _build_and_open(setup, backend, params, n)
    truth = setup.probes.truth
    if n != len(g.ids):
        truth = _exact_topk(g.vectors[:n], g.ids[:n], setup.probes.queries, setup.k).ids
    out = []
    try:
        for setting in sweep or [{}]:
            for name, value in setting.items():
                if name not in index.params:
                    raise InvalidArgumentError(f"{backend} has no parameter {name!r}")
                setattr(index, name, value)
            label = " ".join(f"{k}={v}" for k, v in setting.items())
            out.append(_query(setup, index, backend, built, truth, label))
    finally:
        index.close()
        shutil.rmtree(setup.workdir / backend, ignore_errors=True)
    return out


def _probes(g: SynthGallery, k: int, threshold: float | None) -> tuple[_Probes, float, str]:
    """Split probes into evaluation and calibration sets; exact truth; the threshold."""
    known = np.flatnonzero(g.probe_labels >= 0)
    unknown = np.flatnonzero(g.probe_labels < 0)
    n_open = min(len(known), len(unknown) // 2)  # as many non-enrolled as enrolled probes
    calib, open_eval = unknown[: len(unknown) - n_open], unknown[len(unknown) - n_open :]
    evaluate = np.concatenate([known, open_eval])
    both = np.concatenate([evaluate, calib])
    exact = _exact_topk(g.vectors, g.ids, g.probes[both], k)
    truth = exact.ids[: len(evaluate)]
    if threshold is None:
        threshold = float(np.quantile(exact.scores[len(evaluate) :, 0], 0.99))
        source = f"exact top-1 of {len(calib)} non-enrolled probes: 99th percentile (FPIR 1%)"
    else:
        source = "given"
    return _Probes(g.probes[evaluate], g.probe_labels[evaluate], truth), threshold, source


def run_search_bench(
    n: int,
    dim: int,
    backends: Sequence[str],
    *,
    preset: str | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    probes: int = 1000,
    queries: int = 200,
    k: int = 10,
    threshold: float | None = None,
    budget_s: float = 60.0,
    max_n: Mapping[str, int] | None = None,
    sweep: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    workdir: Path | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> SearchBenchReport:
    """Benchmark ``backends`` on ``n`` synthetic ``dim``-d templates (see the module docstring).

    Args:
        preset: synthetic distribution (default: ``dlib`` for 128-d, else ``arcface``).
        params: per-backend parameters (``{"hnsw": {"ef_search": 128}}``); Milvus gets a
            ``uri`` in ``workdir`` unless one is given.
        probes: evaluation probes (half enrolled identities, half not), plus as many
            non-enrolled calibration probes for the threshold.
        queries: single queries timed for the latency percentiles (stops after ``budget_s``).
        max_n: run a backend on the first ``max_n[backend]`` templates only (slow backends).
        sweep: search-time settings to measure one after the other on the same built index,
            e.g. ``{"hnsw": [{"ef_search": 64}, {"ef_search": 256}]}`` (one result each).
    """
    say = progress or (lambda msg: logger.info("%s", msg))
    for backend in backends:  # fail on a wrong name or parameter before minutes of set-up
        if backend == "milvus":  # needs its server: only the name and the extra are checked
            backend_class(backend)
        else:
            create_index(backend, dim, **dict((params or {}).get(backend, {}))).close()
    preset = preset or ("dlib" if dim == 128 else "arcface")
    spec = synth_spec(preset, dim)
    own = Path(tempfile.mkdtemp(prefix="faceprint-bench-")) if workdir is None else Path(workdir)
    own.mkdir(parents=True, exist_ok=True)
    on_disk = n * dim * 4 > ON_DISK_BYTES
    results = []
    try:
        where = f" on disk in {own}" if on_disk else ""
        say(f"generating {n} x {dim} synthetic templates ({preset}){where}")
        out = own / "gallery.npy" if on_disk else None
        g = make_gallery(n, spec, probes=2 * probes, open_set_fraction=0.75, seed=seed, out=out)
        stats = similarity_stats(g.vectors[: min(n, 200_000)], g.labels[: min(n, 200_000)])
        say("exact ground truth")
        p, thr, source = _probes(g, k, threshold)
        threads = default_threads()
        load_before = os.getloadavg()[0]
        sum1, sum_t = _sum_time(g.vectors, threads)
        setup = _Setup(g, p, thr, k, queries, budget_s, own)
        for backend in backends:
            bp = dict((params or {}).get(backend, {}))
            if backend == "milvus":
                bp.setdefault("uri", str(own / "milvus.db"))
            nb = min(n, (max_n or {}).get(backend, n))
            say(f"{backend}: n={nb} {bp}")
            for r in _measure(setup, backend, bp, nb, (sweep or {}).get(backend, [])):
                results.append(r)
                say(f"{backend}: {r}")
        sum1b, sum_tb = _sum_time(g.vectors, threads)
    finally:
        if workdir is None:
            shutil.rmtree(own, ignore_errors=True)
        elif on_disk:
            (own / "gallery.npy").unlink(missing_ok=True)
    return SearchBenchReport(
        n=n, dim=dim, preset=preset, spec=spec, stats=stats, k=k, threshold=thr,
        threshold_source=source, sum_ms=min(sum1, sum1b), sum_threads_ms=min(sum_t, sum_tb),
        threads=threads, load_average=(load_before, os.getloadavg()[0]), results=tuple(results),
    )  # fmt: skip
