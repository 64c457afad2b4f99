"""Compare alignments on LFW View 1 only (never View 2): embeddings saved by ``faceprint
evaluate lfw --pairs pairsDevTest.txt --train-pairs pairsDevTrain.txt --save-embeddings F``.

For each file: the best accuracy on pairsDevTrain and pairsDevTest at the threshold chosen
there, both crossed (the threshold of one set scored on the other, and the pooled count over
all 3,200 pairs), and the AUC of all 3,200 pairs; then, against the first file, the pairs only
one of the two gets right at the crossed thresholds (exact McNemar p).

    python benchmarks/lfw_view1_compare.py --data ../shared/data/lfw A.npz B.npz ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceprint.evaluate.lfw import Pair, find_lfw, read_pairs
from faceprint.evaluate.metrics import best_threshold, roc_auc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_small_faces import mcnemar_p


def scores(path: Path, pairs: list[Pair]) -> npt.NDArray[np.float64]:
    """Cosine similarity of each pair from the saved embeddings (files relative to LFW's images)."""
    with np.load(path) as z:
        row = {str(f): i for i, f in enumerate(z["files"])}
        emb = z["embeddings"].astype(np.float64)
    u = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    a = np.array([row[p.a] for p in pairs])
    b = np.array([row[p.b] for p in pairs])
    return np.asarray((u[a] * u[b]).sum(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("files", type=Path, nargs="+")
    args = ap.parse_args()
    lfw = find_lfw(args.data)
    train = read_pairs(lfw.protocol_file("pairsDevTrain.txt")).pairs
    test = read_pairs(lfw.protocol_file("pairsDevTest.txt")).pairs
    same_tr = np.array([p.same for p in train])
    same_te = np.array([p.same for p in test])
    first: np.ndarray | None = None
    print(
        "| file | train best % (t) | test best % (t) | test at train t | train at test t "
        "| crossed, 3200 pairs | AUC 3200 | only here / only first | McNemar p |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.files:
        s_tr, s_te = scores(path, train), scores(path, test)
        t_tr, acc_tr = best_threshold(s_tr, same_tr)
        t_te, acc_te = best_threshold(s_te, same_te)
        right = np.concatenate([(s_tr >= t_te) == same_tr, (s_te >= t_tr) == same_te])
        auc = roc_auc(np.concatenate([s_tr, s_te]), np.concatenate([same_tr, same_te]))
        first = right if first is None else first
        here, there = int((right & ~first).sum()), int((first & ~right).sum())
        print(
            f"| {path.name} | {100 * acc_tr:.2f} ({t_tr:.4f}) | {100 * acc_te:.2f} ({t_te:.4f}) "
            f"| {100 * right[len(train) :].mean():.2f} | {100 * right[: len(train)].mean():.2f} "
            f"| {int(right.sum())} ({100 * right.mean():.2f}) | {auc:.5f} | {here} / {there} "
            f"| {mcnemar_p(here, there):.3f} |"
        )


if __name__ == "__main__":
    main()
