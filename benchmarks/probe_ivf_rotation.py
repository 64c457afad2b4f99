"""How well 4-bit IVF fast-scan codes rank the true nearest neighbour, with and without a rotation
(docs/scale.md, section 2): on a dlib-like synthetic gallery, the share of enrolled probes whose
exact top-1 is among the ``S`` best-coded candidates (what an exact re-rank of a shortlist of
``S`` can recover), for no rotation, a random rotation and OPQ.

    PYTHONPATH=src python benchmarks/probe_ivf_rotation.py --n 1000000 --nlist 1024 --nprobe 256

FAISS only (no faceprint index): the question is the codes' ranking, not the backend around it.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from faceprint.bench.synth import make_gallery, synth_spec

SHORTLISTS = (16, 32, 64, 128, 256)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", type=int, default=256)
    ap.add_argument("--m", type=int, default=64, help="4-bit sub-quantizers")
    ap.add_argument("--probes", type=int, default=2000)
    ap.add_argument("--train", type=int, default=131072)
    ap.add_argument(
        "--rotation", action="append", choices=["none", "random", "opq"],
        help="rotations to compare (repeatable; default all three)",
    )  # fmt: skip
    args = ap.parse_args()
    g = make_gallery(args.n, synth_spec("dlib"), probes=args.probes, open_set_fraction=0.0)
    x, q = g.vectors, g.probes
    best = np.full(len(q), -np.inf, np.float32)
    truth = np.zeros(len(q), np.int64)
    for s in range(0, args.n, 262144):
        scores = q @ x[s : s + 262144].T
        j = scores.argmax(1)
        v = scores[np.arange(len(q)), j]
        better = v > best
        best[better], truth[better] = v[better], j[better] + s
    rng = np.random.default_rng(0)
    train = x[rng.choice(args.n, min(args.n, args.train), replace=False)]
    dim = x.shape[1]

    def ivf() -> faiss.Index:
        quantizer = faiss.IndexFlatIP(dim)
        return faiss.IndexIVFPQFastScan(
            quantizer, dim, args.nlist, args.m, 4, faiss.METRIC_INNER_PRODUCT
        )

    random = faiss.RandomRotationMatrix(dim, dim)
    random.init(0)
    indexes = {
        "none": lambda: ivf(),
        "random": lambda: faiss.IndexPreTransform(random, ivf()),
        "opq": lambda: faiss.IndexPreTransform(faiss.OPQMatrix(dim, args.m), ivf()),
    }
    for name in args.rotation or list(indexes):
        index = indexes[name]()
        t = time.perf_counter()
        index.train(train)
        index.add(x)
        faiss.extract_index_ivf(index).nprobe = args.nprobe
        _, cand = index.search(q, max(SHORTLISTS))
        found = cand == truth[:, None]
        shares = {s: float(found[:, :s].any(axis=1).mean()) for s in SHORTLISTS}
        row = "  ".join(f"top-{s}: {v:.4f}" for s, v in shares.items())
        print(f"rotation {name:6s} {row}  ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
