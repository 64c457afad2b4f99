"""Cluster quality on LFW for every clustering method, and clustering time / memory at scale.

``lfw``: all 13,233 LFW images as one unlabelled library, the subject face of each (default pack,
the fallbacks of ``faceprint evaluate lfw``), embedded once and saved to ``--embeddings``
(reused when present). Every method is swept over thresholds on the faces of
``peopleDevTrain.txt``'s people; its threshold is chosen there (the default method: best
pairwise F with pairwise precision >= 0.995, a margin for larger libraries; the others: best
pairwise F, and the best F with precision >= 0.99 where one exists); then every method is run at its chosen threshold on
``peopleDevTest.txt``'s people and on all of LFW, on the same embeddings, in one run.
Unclustered faces count as singleton clusters (see :mod:`faceprint.cluster.metrics`).

``scale``: cluster time (wall and CPU) and peak RSS of the default method on N synthetic dlib-like
faces (``faceprint.bench.synth``, 5 faces per identity), each size in a fresh process
(``--backend``: the k-NN graph's; ``--log``: the clustering's debug log, with times).

``recall``: recall of the k-NN graph backends against exact search on N synthetic faces.

    FACEPRINT_DATA=../shared/data python benchmarks/bench_cluster.py lfw --augment flip \
        --json /tmp/cluster_lfw_flip.json              # the library's default embeddings
    FACEPRINT_DATA=../shared/data python benchmarks/bench_cluster.py lfw \
        --json /tmp/cluster_lfw.json                   # plain embeddings
    python benchmarks/bench_cluster.py scale --sizes 13233 100000 1000000 --json /tmp/scale.json
    python benchmarks/bench_cluster.py recall --faces 100000 --backends hnsw ivf
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from faceprint.cluster import cluster_faces, default_threshold, knn_graph, score_clusters
from faceprint.cluster.core import GRAPH_METHODS, _base_labels
from faceprint.cluster.default import CORE_OFFSET, DEFAULT_K
from faceprint.cluster.graph import Backend, KnnGraph
from faceprint.cluster.metrics import ClusterScores

DATA = Path(
    os.environ.get("FACEPRINT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

#: thresholds swept on the training people, per method (cosine similarity)
GRIDS: dict[str, Sequence[float]] = {
    "default": np.round(np.arange(0.930, 0.94501, 0.0005), 4).tolist(),
    "chinese-whispers": np.round(np.arange(0.940, 0.9701, 0.0025), 4).tolist(),
    "components": np.round(np.arange(0.950, 0.9801, 0.0025), 4).tolist(),
    "louvain": np.round(np.arange(0.940, 0.9701, 0.005), 4).tolist(),
    "agglomerative": np.round(np.arange(0.900, 0.9501, 0.0025), 4).tolist(),
    "hdbscan": np.round(np.arange(0.910, 0.9501, 0.005), 4).tolist(),
}
TARGET_PRECISION = 0.99
#: the default method's threshold is chosen with a margin: precision falls as a library grows
#: (more faces, more look-alikes), so it must hold at 0.995 on the 9.5k training faces
DEFAULT_PRECISION = 0.995


# --- LFW -----------------------------------------------------------------------------------------


def extract(path: Path, augment: str = "none", pack: str = "dlib") -> None:
    """Embed every LFW image (subject face, LFW fallbacks, ``pack``, test-time augmentation
    ``augment``) into ``path``."""
    from faceprint.evaluate.cache import EmbeddingCache
    from faceprint.evaluate.extract import embed_images
    from faceprint.evaluate.lfw import find_lfw, lfw_config, lfw_identities, save_embeddings

    layout = find_lfw(DATA / "lfw")
    files, _ = lfw_identities(layout.images)
    emb = embed_images(
        [str(layout.images / f) for f in files],
        lfw_config(pack, augment=augment),
        cache=EmbeddingCache(),
    )
    print(f"extraction: {emb.summary}", file=sys.stderr)
    save_embeddings(path, emb, layout.images)


def people(file: Path) -> set[str]:
    """Names listed in an LFW ``people*.txt`` file."""
    lines = file.read_text().split("\n")[1:]
    return {ln.split("\t")[0] for ln in lines if "\t" in ln}


def _sweep_graph(
    method: str, x: FloatArray, truth: IntArray, grid: Sequence[float]
) -> list[tuple[float, ClusterScores]]:
    graph = knn_graph(x, k=DEFAULT_K, floor=min(grid))
    out = []
    for t in grid:
        labels = _final(GRAPH_METHODS[method](graph, t, x))
        out.append((t, score_clusters(labels, truth)))
    return out


def _final(base: IntArray, min_size: int = 2) -> IntArray:
    """Base labels with clusters smaller than ``min_size`` dissolved (as cluster_faces does)."""
    _lab, inv, counts = np.unique(base, return_inverse=True, return_counts=True)
    out = base.copy()
    out[(counts[inv.ravel()] < min_size) | (base < 0)] = -1
    return out


def _sweep_agglomerative(
    x: FloatArray, truth: IntArray, grid: Sequence[float]
) -> list[tuple[float, ClusterScores]]:
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    tree = linkage(pdist(x.astype(np.float64), "cosine"), method="average")
    out = []
    for t in grid:
        labels = fcluster(tree, t=1.0 - t, criterion="distance").astype(np.int64) - 1
        out.append((t, score_clusters(_final(labels), truth)))
    return out


def _sweep_plain(
    method: str, x: FloatArray, truth: IntArray, grid: Sequence[float]
) -> list[tuple[float, ClusterScores]]:
    return [
        (t, score_clusters(_final(_base_labels(x, method, t, DEFAULT_K, "auto")), truth))
        for t in grid
    ]


def _sweep_hdbscan(
    x: FloatArray, truth: IntArray, grid: Sequence[float]
) -> list[tuple[float, ClusterScores]]:
    from faceprint.cluster.dense import cohesive, hdbscan_clusters

    tree = hdbscan_clusters(x)
    return [(t, score_clusters(_final(cohesive(x, tree, t)), truth)) for t in grid]


def sweep(method: str, x: FloatArray, truth: IntArray) -> list[tuple[float, ClusterScores]]:
    grid = GRIDS[method]
    if method == "hdbscan":
        return _sweep_hdbscan(x, truth, grid)
    if method in GRAPH_METHODS:
        return _sweep_graph(method, x, truth, grid)
    if method == "agglomerative":
        return _sweep_agglomerative(x, truth, grid)
    return _sweep_plain(method, x, truth, grid)


def choose(
    curve: list[tuple[float, ClusterScores]], precise: bool, target: float = TARGET_PRECISION
) -> float:
    """Best pairwise F (``precise``: among thresholds with pairwise precision >= ``target``;
    the most precise threshold when none reaches it)."""
    if precise:
        ok = [(t, s) for t, s in curve if s.pairwise_precision >= target]
        if not ok:
            return max(curve, key=lambda c: c[1].pairwise_precision)[0]
        curve = ok
    return max(curve, key=lambda c: c[1].pairwise_f)[0]


def _row(method: str, t: float, part: str, s: ClusterScores, seconds: float) -> dict[str, Any]:
    return {"method": method, "threshold": t, "subset": part, "seconds": seconds, **s.to_dict()}


def run_lfw(args: argparse.Namespace) -> dict[str, Any]:
    suffix = "_flip" if args.augment == "flip" else ""
    path = Path(args.embeddings or f"/tmp/lfw_{args.pack}_subject{suffix}.npz")
    if not path.exists():
        extract(path, args.augment, args.pack)
    if args.grid:
        lo, hi, step = (float(v) for v in args.grid.split(","))
        GRIDS["default"] = np.round(np.arange(lo, hi + step / 2, step), 4).tolist()
    z = np.load(path)
    files = [str(f) for f in z["files"]]
    names = np.array([f.split("/", 1)[0] for f in files])
    x = z["embeddings"].astype(np.float32)
    has = np.linalg.norm(x, axis=1) > 0.5
    _, truth = np.unique(names, return_inverse=True)
    lfw = DATA / "lfw"
    subsets = {
        "train": np.isin(names, sorted(people(lfw / "peopleDevTrain.txt"))),
        "test": np.isin(names, sorted(people(lfw / "peopleDevTest.txt"))),
        "all": np.ones(len(names), bool),
    }
    print(
        f"{len(x)} images, {int(has.sum())} with a face, {len(np.unique(names))} people; "
        + ", ".join(f"{k}: {int(v.sum())} images" for k, v in subsets.items()),
        file=sys.stderr,
    )
    methods = args.methods
    sweeps: dict[str, list[dict[str, Any]]] = {}
    chosen: dict[str, dict[str, float]] = {}
    tr = subsets["train"] & has
    for m in methods:
        t0 = time.perf_counter()
        curve = sweep(m, x[tr], truth[tr])
        sweeps[m] = [{"threshold": t, **s.to_dict()} for t, s in curve]
        chosen[m] = {"best_f": choose(curve, False), "precise": choose(curve, True)}
        if m == "default":
            chosen[m]["precise"] = choose(curve, True, DEFAULT_PRECISION)
        print(f"swept {m} in {time.perf_counter() - t0:.0f} s: {chosen[m]}", file=sys.stderr)
        for t, s in curve:
            print(
                f"  {m:17s} t={t:.3f} P={s.pairwise_precision:.4f} R={s.pairwise_recall:.4f} "
                f"F={s.pairwise_f:.4f} BF={s.bcubed_f:.4f} clusters={s.clusters} "
                f"alone={s.unclustered}",
                file=sys.stderr,
            )
    rows = []
    for m in methods:
        kinds = ["precise"] if m == "default" else ["best_f", "precise"]
        for t in dict.fromkeys(chosen[m][k] for k in kinds):
            for part in ("train", "test", "all"):
                rows.append(_evaluate(m, t, x, truth, subsets[part], has, part))
    return {
        "images": len(x),
        "with_face": int(has.sum()),
        "chosen": chosen,
        "rows": rows,
        "sweeps": sweeps,
    }


def _evaluate(
    method: str,
    t: float,
    x: FloatArray,
    truth: IntArray,
    subset: npt.NDArray[np.bool_],
    has: npt.NDArray[np.bool_],
    part: str,
) -> dict[str, Any]:
    """Run ``cluster_faces`` on the subset's faces; images without a face count as unclustered."""
    idx = np.flatnonzero(subset)
    labels = np.full(len(idx), -1, np.int64)
    ok = has[idx]
    t0 = time.perf_counter()
    res = cluster_faces(x[idx[ok]], threshold=t, method=method)
    seconds = time.perf_counter() - t0
    labels[ok] = res.labels
    s = score_clusters(labels, truth[idx])
    print(
        f"{method:17s} t={t:.3f} {part:5s} P={s.pairwise_precision:.4f} R={s.pairwise_recall:.4f} "
        f"F={s.pairwise_f:.4f} BP={s.bcubed_precision:.4f} BR={s.bcubed_recall:.4f} "
        f"BF={s.bcubed_f:.4f} clusters={s.clusters} alone={s.unclustered} {seconds:.1f}s",
        file=sys.stderr,
    )
    return _row(method, t, part, s, seconds)


# --- scale ---------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def scale_one(n: int, backend: str = "auto") -> dict[str, Any]:
    """Generate ``n`` synthetic faces, then time and measure one default clustering (its debug
    log, with times, goes to stderr: where the time goes)."""
    logging.basicConfig(format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("faceprint").setLevel(logging.DEBUG)
    from faceprint.bench.synth import make_gallery, synth_spec

    g = make_gallery(n, synth_spec("dlib"), templates_per_identity=5, probes=1, seed=1)
    x, truth = g.vectors, g.labels
    del g
    base_mb = _peak_rss_mb()
    _reset_peak()
    c0, t0 = time.process_time(), time.perf_counter()
    res = cluster_faces(x, backend=cast(Backend, backend))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = score_clusters(res.labels, truth)
    return {
        "faces": n,
        "backend": backend,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": base_mb,
        "input_mb": x.nbytes / 2**20,
        "clusters": res.n_clusters,
        "pairwise_precision": s.pairwise_precision,
        "pairwise_recall": s.pairwise_recall,
        "pairwise_f": s.pairwise_f,
        "bcubed_f": s.bcubed_f,
    }


def _edges(g: KnnGraph) -> npt.NDArray[np.int64]:
    i, j, _ = g.upper()
    return i * g.n + j


def run_recall(args: argparse.Namespace) -> dict[str, Any]:
    """Recall of each graph backend against exact search on synthetic dlib-like faces: of the
    true k-NN lists, of their entries at or above the default method's graph floor, and of
    the undirected edges at or above that floor (what the clustering sees)."""
    from faceprint.bench.synth import make_gallery, synth_spec

    g = make_gallery(args.faces, synth_spec("dlib"), templates_per_identity=5, probes=1, seed=1)
    x = np.ascontiguousarray(g.vectors)
    floor = default_threshold("dlib") + CORE_OFFSET
    t0 = time.perf_counter()
    truth = knn_graph(x, k=DEFAULT_K, floor=-1.0, backend="exact")
    rows: list[dict[str, Any]] = [{"backend": "exact", "seconds": time.perf_counter() - t0}]
    true_edges = _edges(truth.restrict(floor))
    strong = truth.knn_sims >= floor
    for backend in args.backends:
        t0 = time.perf_counter()
        found = knn_graph(x, k=DEFAULT_K, floor=-1.0, backend=backend)
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        at_floor = knn_graph(x, k=DEFAULT_K, floor=floor, backend=backend)
        floor_seconds = time.perf_counter() - t0
        hit = np.zeros(truth.knn.shape, bool)
        for lo in range(0, len(x), 8192):
            a, b = truth.knn[lo : lo + 8192], found.knn[lo : lo + 8192]
            hit[lo : lo + 8192] = (a[:, :, None] == b[:, None, :]).any(axis=2)
        edges = _edges(at_floor)
        row = {
            "backend": backend,
            "seconds": seconds,
            "seconds_at_floor": floor_seconds,
            "knn_recall": float(hit.mean()),
            "knn_recall_at_floor": float(hit[strong].mean()),
            "edge_recall_at_floor": float(np.isin(true_edges, edges).mean()),
            "edges_at_floor": len(edges),
            "true_edges_at_floor": len(true_edges),
        }
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    return {"faces": args.faces, "k": DEFAULT_K, "floor": floor, "rows": rows}


def run_scale(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "scale-one", str(n), "--backend", args.backend],
            stdout=subprocess.PIPE,
            stderr=None if args.log else subprocess.DEVNULL,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            rows.append({"faces": n, "error": f"exit status {out.returncode}"})
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    return {"rows": rows}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    lf = sub.add_parser("lfw")
    lf.add_argument(
        "--embeddings",
        default=None,
        help="Saved embeddings (default /tmp/lfw_PACK_subject[_flip].npz; made when absent).",
    )
    lf.add_argument(
        "--grid", default="", help="The default method's thresholds as LO,HI,STEP (other packs)."
    )
    lf.add_argument("--pack", default="dlib", help="Model pack of the embeddings.")
    lf.add_argument(
        "--augment",
        choices=("none", "flip"),
        default="none",
        help="Test-time augmentation of the embeddings (flip: the photo library's default).",
    )
    lf.add_argument(
        "--methods",
        nargs="+",
        default=[
            "default",
            "chinese-whispers",
            "components",
            "louvain",
            "agglomerative",
            "hdbscan",
        ],
    )
    lf.add_argument("--json")
    sc = sub.add_parser("scale")
    sc.add_argument("--sizes", nargs="+", type=int, default=[13233, 100_000, 1_000_000])
    sc.add_argument("--json")
    sc.add_argument(
        "--backend",
        choices=("auto", "exact", "hnsw", "ivf"),
        default="auto",
        help="k-NN graph backend (auto: exact up to 20k faces, HNSW above; ivf: the list join).",
    )
    sc.add_argument("--log", action="store_true", help="Show the clustering's debug log.")
    rc = sub.add_parser("recall")
    rc.add_argument("--faces", type=int, default=100_000)
    rc.add_argument("--backends", nargs="+", default=["hnsw", "ivf"])
    rc.add_argument("--json")
    one = sub.add_parser("scale-one")
    one.add_argument("n", type=int)
    one.add_argument("--backend", default="auto")
    args = ap.parse_args(argv)
    run: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "lfw": run_lfw,
        "scale": run_scale,
        "recall": run_recall,
    }
    if args.cmd == "scale-one":
        print(json.dumps(scale_one(args.n, args.backend)))
        return
    result = run[args.cmd](args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
