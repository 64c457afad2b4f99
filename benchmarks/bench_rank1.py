"""Rank-1 identification on LFW probes as distractors are added: real LFW faces, then up to
10M synthetic ones, exact search and an approximate index side by side (docs/scale.md).

    PYTHONPATH=src python benchmarks/bench_rank1.py \\
        --embeddings /tmp/lfw_dlib_subject.npz --max-n 10000000 --backend pq \\
        --json /tmp/rank1.json --png docs/rank1.png

The embeddings file is the one ``benchmarks/bench_cluster.py lfw`` writes (every LFW image,
subject face, LFW fallbacks; made here when absent, which takes a while). See
:mod:`faceprint.bench.rank1` for the protocol and the generator's validation.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.bench.rank1 import (
    GaussianFaces,
    blocks_of,
    compare_scores,
    fit_tail,
    index_rank1,
    rank1_curve,
    split_lfw,
)

DATA = Path(
    os.environ.get("FACEPRINT_DATA", Path(__file__).resolve().parents[1] / "../shared/data")
)


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _load(path: Path, pack: str) -> tuple[np.ndarray, list[str]]:
    if not path.exists():
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_cluster import extract

        _say(f"extracting LFW embeddings into {path}")
        extract(path, "none", pack)
    z = np.load(path)
    files = [str(f) for f in z["files"]]
    return z["embeddings"].astype(np.float32), [f.split("/", 1)[0] for f in files]


def _sizes(limit: int, start: int) -> list[int]:
    grid = [10**e * m for e in range(2, 8) for m in (1, 3)] + [limit]
    return sorted({s for s in grid if start < s <= limit})


def run(args: argparse.Namespace) -> dict[str, Any]:
    x, names = _load(Path(args.embeddings), args.pack)
    valid = np.linalg.norm(x, axis=1) > 0.5
    split = split_lfw(names, valid, probes=args.probes, seed=args.seed)
    probes, mates, real = x[split.probes], x[split.mates], x[split.distractors]
    n_real = len(real)
    _say(f"{split.people} probes/mates, {n_real} real distractors of other people")
    real_sizes = sorted(s for s in {0, 10, 30, 100, 300, 1000, 3000, n_real} if s <= n_real)
    exact_real = rank1_curve(probes, mates, blocks_of(real), real_sizes)
    _say(f"exact, real distractors: {exact_real}")

    # the generator: one image per distractor person
    people = np.asarray(names)[split.distractors]
    _, first = np.unique(people, return_index=True)
    people_x = real[np.sort(first)]
    tail = fit_tail(real, mates, people_x, seed=args.seed) if args.fit_tail else 0.0
    _say(f"generator tail: {tail:.4f}")
    gen = GaussianFaces(people_x, tail)
    check = gen.sample(n_real, np.random.default_rng([args.seed, 99]))
    comparison = compare_scores(probes, real, check)
    _say(f"generator check: {comparison}")
    synth_at_real = rank1_curve(probes, mates, gen.blocks(n_real, seed=args.seed + 1), real_sizes)
    _say(f"exact, synthetic distractors at the real sizes: {synth_at_real}")

    # beyond the real faces: every real distractor, then synthetic ones
    best_real = (probes @ real.T).max(axis=1) if n_real else None
    top = min(args.approx_max or args.max_n, args.max_n)
    approx_sizes = {s for s in [*args.approx_at, top] if n_real < s <= top}
    total = sorted(set(_sizes(args.max_n, n_real)) | approx_sizes)
    extra = [s - n_real for s in total]
    t = time.perf_counter()
    synth = rank1_curve(
        probes, mates, gen.blocks(args.max_n - n_real, seed=args.seed), extra, start=best_real
    )
    exact_s = time.perf_counter() - t
    exact_all = {**exact_real, **{s + n_real: v for s, v in synth.items()}}
    _say(f"exact, real + synthetic: {exact_all} ({exact_s:.0f} s)")

    approx: dict[str, Any] = {}
    for backend in [] if args.exact_only else args.backend:
        params = dict(json.loads(args.params).get(backend, {})) if args.params else {}
        marks = sorted({n_real, *approx_sizes})
        stream = itertools.chain(blocks_of(real), gen.blocks(args.max_n - n_real, seed=args.seed))
        approx[backend] = {
            "params": params,
            "points": index_rank1(backend, params, probes, mates, stream, marks, say=_say),
        }
    return {
        "embeddings": str(args.embeddings),
        "pack": args.pack,
        "probes": split.people,
        "real_distractors": n_real,
        "exact_real": exact_real,
        "exact_synthetic_at_real_sizes": synth_at_real,
        "exact": exact_all,
        "exact_seconds": exact_s,
        "generator_check": comparison.to_dict(),
        "generator_tail": tail,
        "approximate": approx,
        "load_average": os.getloadavg(),
    }


def _short(params: dict[str, Any]) -> str:
    keep = {k: v for k, v in params.items() if k in ("fastscan", "nlist", "nprobe", "shortlist")}
    return "(" + ", ".join(f"{k} {v}" for k, v in keep.items()) + ")" if keep else "(defaults)"


def plot(report: dict[str, Any], path: Path, tail: dict[str, Any] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    n_real = report["real_distractors"]
    exact = {int(k): v for k, v in report["exact"].items()}
    xs = sorted(k for k in exact if k > 0)
    real_x = [k for k in xs if k <= n_real]
    sim_x = [k for k in xs if k >= n_real]
    ax.plot(
        real_x, [exact[k] for k in real_x], "o-", color="C0", label="exact, real LFW distractors"
    )
    ax.plot(sim_x, [exact[k] for k in sim_x], "o--", color="C0", alpha=0.7,
            label="exact, + synthetic distractors (simulation)")  # fmt: skip
    if tail is not None:
        heavy = {int(k): v for k, v in tail["exact"].items() if int(k) >= n_real}
        ax.plot(sorted(heavy), [heavy[k] for k in sorted(heavy)], "^--", color="C1",
                label=f"exact, + heavy-tailed synthetic (tail {tail['generator_tail']:.2f})")  # fmt: skip
    syn = {int(k): v for k, v in report["exact_synthetic_at_real_sizes"].items() if int(k) > 0}
    ax.plot(sorted(syn), [syn[k] for k in sorted(syn)], "x:", color="C2",
            label="exact, synthetic only (generator check)")  # fmt: skip
    for i, (backend, res) in enumerate(report["approximate"].items()):
        pts = {int(k): v["rank1"] for k, v in res["points"].items() if int(k) > 0}
        ax.plot(sorted(pts), [pts[k] for k in sorted(pts)], "s-", color=f"C{3 + i}",
                label=f"{backend} index {_short(res['params'])}".strip())  # fmt: skip
    ax.axvline(n_real, color="grey", lw=0.8)
    ax.text(n_real * 1.1, ax.get_ylim()[0] + 0.01, "real data ends", color="grey", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("distractors in the gallery")
    ax.set_ylabel("rank-1 identification rate")
    ax.set_title(f"faceprint {report['pack']} pack: rank-1 of {report['probes']} LFW probes")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--embeddings", default="/tmp/lfw_dlib_subject.npz")
    ap.add_argument("--pack", default="dlib")
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--max-n", type=int, default=10_000_000)
    ap.add_argument("--backend", action="append", default=[])
    ap.add_argument("--params", default="", help='JSON: {"pq": {"shortlist": 512}}')
    ap.add_argument(
        "--approx-at", type=int, action="append", default=[100_000, 1_000_000],
        help="gallery sizes (beyond the real ones) where the index is queried",
    )  # fmt: skip
    ap.add_argument("--approx-max", type=int, default=0,
                    help="largest gallery the index is built to (default: --max-n)")  # fmt: skip
    ap.add_argument("--fit-tail", action="store_true",
                    help="heavier-tailed generator fitted on the mates' extreme scores")  # fmt: skip
    ap.add_argument("--exact-only", action="store_true", help="no index backends")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--png")
    ap.add_argument("--plot-from", help="plot this saved report instead of running")
    ap.add_argument("--tail-from", help="a saved --fit-tail report to draw beside it")
    args = ap.parse_args()
    if args.plot_from:
        tail = json.loads(Path(args.tail_from).read_text()) if args.tail_from else None
        plot(json.loads(Path(args.plot_from).read_text()), Path(args.png), tail)
        return
    report = run(args)
    text = json.dumps(report, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    if args.png:
        plot(report, Path(args.png))


if __name__ == "__main__":
    main()
