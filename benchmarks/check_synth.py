"""Check the synthetic gallery generator against real LFW embeddings.

    python benchmarks/check_synth.py [--embeddings lfw_dlib_embeddings.npz] [--json]

Computes the genuine (same person) and impostor (different people) cosine statistics of the
default pack's embeddings of LFW (every image's subject face; people with two or more images
give the genuine pairs) and of a synthetic ``dlib``-preset gallery built by
:func:`faceprint.bench.synth.make_gallery` the way ``faceprint bench search`` builds it, and
prints them side by side. Embeddings come from the ``.npz`` written by
``benchmarks/bench_gallery.py lfw`` or, without one, from the evaluation cache (see
``bench_gallery.load_lfw``; about 10 minutes on 2 cores when the cache is cold).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from bench_gallery import load_lfw

from faceprint.bench.synth import make_gallery, similarity_stats, synth_spec

ROWS = (
    ("genuine_mean", "genuine mean"),
    ("genuine_std", "genuine std"),
    ("genuine_p5", "genuine 5th percentile"),
    ("impostor_mean", "impostor mean"),
    ("impostor_std", "impostor std"),
    ("impostor_p99", "impostor 99th percentile"),
    ("impostor_p999", "impostor 99.9th percentile"),
    ("genuine_pairs", "genuine pairs"),
    ("impostor_pairs", "impostor pairs"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embeddings", type=Path, default=None)
    ap.add_argument("--synthetic", type=int, default=20000, help="synthetic templates")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    emb, labels, _ = load_lfw(args.embeddings)
    ok = np.isfinite(emb).all(axis=1) & (np.linalg.norm(emb, axis=1) > 0)
    emb, labels = emb[ok], labels[ok]
    real = similarity_stats(emb, labels, impostor_pairs=1_000_000)
    g = make_gallery(args.synthetic, synth_spec("dlib"), probes=0)
    synth = similarity_stats(g.vectors, g.labels, impostor_pairs=1_000_000)
    out = {"lfw": asdict(real), "synthetic_dlib": asdict(synth), "lfw_faces": int(ok.sum())}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"| cosine | LFW, default pack ({ok.sum()} faces) | synthetic `dlib` preset |")
    print("|---|---|---|")
    for key, name in ROWS:
        a, b = getattr(real, key), getattr(synth, key)
        fmt = "{:,}" if isinstance(a, int) else "{:.3f}"
        print(f"| {name} | {fmt.format(a)} | {fmt.format(b)} |")


if __name__ == "__main__":
    main()
