"""Cluster quality against true identities: pairwise and BCubed precision / recall / F.

Unclustered faces (label ``-1``) count as clusters of their own (singletons): leaving a face out
never hurts precision and costs recall exactly as if it had been put in a cluster alone, which is
what a user sees (the face is not grouped with its person). Identities with one face are
therefore perfectly clustered when left alone.

- **pairwise**: over all pairs of faces, precision = pairs put together that are the same person
  / pairs put together; recall = same-person pairs put together / same-person pairs. Dominated
  by the largest identities (pairs grow with the square of their size).
- **BCubed** (Bagga and Baldwin 1998; Amigo et al. 2009): per face, precision = share of its
  cluster that is its person, recall = share of its person that is in its cluster; averaged
  over faces, so every face weighs the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult
from faceprint.errors import InvalidArgumentError

__all__ = ["ClusterScores", "score_clusters"]


@dataclass(frozen=True)
class ClusterScores(JsonResult):
    """Quality of a clustering (see the module docstring).

    Attributes:
        faces: faces scored.
        identities: distinct true identities among them.
        clusters: distinct labels other than -1.
        unclustered: faces labelled -1.
        pairwise_precision / pairwise_recall / pairwise_f: over pairs of faces.
        bcubed_precision / bcubed_recall / bcubed_f: averaged over faces.
    """

    faces: int
    identities: int
    clusters: int
    unclustered: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float


def _f(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _pairs(counts: npt.NDArray[np.int64]) -> float:
    c = counts.astype(np.float64)
    return float((c * (c - 1) / 2).sum())


def score_clusters(labels: npt.ArrayLike, truth: npt.ArrayLike) -> ClusterScores:
    """Score predicted ``labels`` (``-1`` = unclustered) against ``truth`` identities.

    Raises:
        InvalidArgumentError: the two arrays differ in length or are empty.
    """
    pred = np.asarray(labels, dtype=np.int64).ravel()
    true = np.asarray(truth, dtype=np.int64).ravel()
    if len(pred) != len(true) or len(pred) == 0:
        raise InvalidArgumentError(
            f"labels and truth must be non-empty and equally long, got {len(pred)} and {len(true)}"
        )
    n = len(pred)
    alone = pred < 0
    # unclustered faces become singleton clusters with labels past every real one
    pred = pred.copy()
    pred[alone] = pred.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(true, return_inverse=True)
    cells, n_ij = np.unique(p.ravel() * (int(t.max()) + 1) + t.ravel(), return_counts=True)
    a = np.bincount(p.ravel())  # cluster sizes
    b = np.bincount(t.ravel())  # identity sizes
    ci, ti = cells // (int(t.max()) + 1), cells % (int(t.max()) + 1)
    tp, pp, tt = _pairs(n_ij), _pairs(a), _pairs(b)
    prec = 1.0 if pp == 0 else tp / pp
    rec = 1.0 if tt == 0 else tp / tt
    nij = n_ij.astype(np.float64)
    bp = float((nij**2 / a[ci]).sum() / n)
    br = float((nij**2 / b[ti]).sum() / n)
    return ClusterScores(
        faces=n,
        identities=len(b),
        clusters=len(np.unique(pred[~alone])),
        unclustered=int(alone.sum()),
        pairwise_precision=prec,
        pairwise_recall=rec,
        pairwise_f=_f(prec, rec),
        bcubed_precision=bp,
        bcubed_recall=br,
        bcubed_f=_f(bp, br),
    )
