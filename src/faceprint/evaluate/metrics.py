"""Verification metrics on similarity scores: pure functions, no models, no files.

Conventions: a pair is accepted as "same person" when its score is ``>= threshold``; ``labels``
are True for genuine (same-person) pairs. FAR is the fraction of impostor pairs accepted, TAR the
fraction of genuine pairs accepted, FRR = 1 - TAR.

**TAR at a low FAR, exactly.** With ``n`` impostor scores, a target FAR ``f`` allows at most
``k = floor(f * n)`` false accepts. The threshold is the smallest float32 above the ``(k+1)``-th
largest impostor score, so at most ``k`` impostors pass; TAR is then counted exactly on the
genuine scores. Only the top ``k+1`` impostor scores matter, which is what makes the all-pairs mode
exact without keeping ~87 million scores: :class:`PairScoreAccumulator` keeps every genuine
score (about 242 thousand on LFW), the largest ``K`` impostor scores (``K`` is set by the lowest
FAR asked for: 88 for 1e-6 on LFW's 87.3 million impostor pairs), and a histogram of all scores
in bins of width 2/16384 for the ROC curve, AUC and EER (those three to within one bin).
A target is marked *unsupported* when ``f * n < 10``: the threshold then rests on fewer than ten
impostor scores and the FAR actually met is a coarse estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult, computed, json_options
from faceprint.errors import InvalidArgumentError

__all__ = [
    "MIN_FALSE_ACCEPTS",
    "AllPairsResult",
    "KFoldResult",
    "PairScoreAccumulator",
    "RocCurve",
    "TarAtFar",
    "all_pairs_scores",
    "best_threshold",
    "equal_error_rate",
    "kfold_accuracy",
    "roc_auc",
    "roc_curve",
    "split_scores",
    "tar_at_far",
    "threshold_at_far",
]

FloatArray = npt.NDArray[np.float64]
#: a FAR target needs at least this many allowed false accepts (``far * impostors``) to be supported
MIN_FALSE_ACCEPTS = 10
_BINS = 16384  # histogram bins over [-1, 1]


def _arrays(
    scores: npt.ArrayLike, labels: npt.ArrayLike
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise InvalidArgumentError(f"scores and labels differ in length: {len(s)} and {len(y)}")
    if y.dtype != np.bool_:
        if not np.isin(y, (0, 1)).all():
            raise InvalidArgumentError("labels must be booleans or 0/1")
        y = y.astype(bool)
    if not np.isfinite(s).all():
        raise InvalidArgumentError("scores must be finite")
    return s, y


def split_scores(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """(genuine scores, impostor scores)."""
    s, y = _arrays(scores, labels)
    return s[y], s[~y]


# --- accuracy with a chosen threshold ---------------------------------------------------------


def best_threshold(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """The threshold with the highest accuracy on these pairs, and that accuracy.

    Every cut between two consecutive distinct scores is tried (plus below all and above all);
    the threshold is the midpoint of its cut. Among equally good cuts the middle one is taken.
    """
    s, y = _arrays(scores, labels)
    if len(s) == 0:
        raise InvalidArgumentError("no scores")
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    neg_below = np.concatenate([[0], np.cumsum(~y)])  # negatives rejected by cut i
    pos_above = y.sum() - np.concatenate([[0], np.cumsum(y)])  # positives accepted by cut i
    correct = neg_below + pos_above
    valid = np.ones(len(s) + 1, bool)
    valid[1:-1] = s[1:] > s[:-1]  # a cut inside a run of equal scores is not a threshold
    best = np.flatnonzero(valid & (correct == correct[valid].max()))
    cut = int(best[len(best) // 2])
    if cut == 0:
        threshold = s[0] - 1e-6
    elif cut == len(s):
        threshold = s[-1] + 1e-6
    else:
        threshold = (s[cut - 1] + s[cut]) / 2
    return float(threshold), float(correct[cut] / len(s))


def accuracy_at(scores: npt.ArrayLike, labels: npt.ArrayLike, threshold: float) -> float:
    """Fraction of pairs decided correctly with ``score >= threshold`` meaning "same"."""
    s, y = _arrays(scores, labels)
    return float(((s >= threshold) == y).mean())


@dataclass(frozen=True)
class KFoldResult(JsonResult):
    """k-fold verification accuracy (LFW View 2: 10 folds).

    Attributes:
        mean: mean of the per-fold accuracies.
        std: their sample standard deviation (ddof=1), the "±" LFW results quote.
        standard_error: ``std / sqrt(k)``.
        fold_accuracies: (k,) accuracy of each fold at the threshold chosen on the others.
        thresholds: (k,) those thresholds.
    """

    mean: float
    std: float
    standard_error: float
    fold_accuracies: tuple[float, ...]
    thresholds: tuple[float, ...]


def kfold_accuracy(
    scores: npt.ArrayLike, labels: npt.ArrayLike, folds: npt.ArrayLike
) -> KFoldResult:
    """Accuracy of each fold at the :func:`best_threshold` of all the other folds.

    ``folds`` gives each pair's fold number; a fold's own pairs never choose its threshold.
    """
    s, y = _arrays(scores, labels)
    f = np.asarray(folds).ravel()
    if f.shape != s.shape:
        raise InvalidArgumentError(f"folds and scores differ in length: {len(f)} and {len(s)}")
    ids = np.unique(f)
    if len(ids) < 2:
        raise InvalidArgumentError("k-fold accuracy needs at least two folds")
    accs, thresholds = [], []
    for k in ids:
        test = f == k
        t, _ = best_threshold(s[~test], y[~test])
        thresholds.append(t)
        accs.append(accuracy_at(s[test], y[test], t))
    a = np.asarray(accs)
    std = float(a.std(ddof=1))
    return KFoldResult(
        float(a.mean()), std, std / math.sqrt(len(a)), tuple(accs), tuple(thresholds)
    )


# --- ROC, AUC, EER, TAR at FAR ----------------------------------------------------------------


@dataclass(frozen=True)
class RocCurve:
    """ROC points, by decreasing threshold.

    Attributes:
        far: (M,) false accept rates.
        tar: (M,) true accept rates.
        thresholds: (M,) the thresholds (accept when ``score >= threshold``).
    """

    far: FloatArray
    tar: FloatArray
    thresholds: FloatArray


def roc_curve(scores: npt.ArrayLike, labels: npt.ArrayLike) -> RocCurve:
    """Every ROC point of these pairs (scikit-learn's ``roc_curve``, all thresholds kept)."""
    from sklearn.metrics import roc_curve as sk_roc

    s, y = _arrays(scores, labels)
    _need_both(y)
    far, tar, thr = sk_roc(y, s, drop_intermediate=False)
    return RocCurve(far.astype(np.float64), tar.astype(np.float64), thr.astype(np.float64))


def roc_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``)."""
    from sklearn.metrics import roc_auc_score

    s, y = _arrays(scores, labels)
    _need_both(y)
    return float(roc_auc_score(y, s))


def _need_both(y: npt.NDArray[np.bool_]) -> None:
    if y.all() or not y.any():
        raise InvalidArgumentError("need both genuine and impostor pairs")


def _eer_from_curve(
    far: FloatArray, tar: FloatArray, thresholds: FloatArray
) -> tuple[float, float]:
    """EER (linear interpolation where FAR crosses FRR) and the threshold there."""
    frr = 1.0 - tar
    diff = far - frr  # rises from <= 0 to >= 0 as the threshold falls
    i = int(np.argmax(diff >= 0))
    if i == 0:
        return float((far[0] + frr[0]) / 2), float(thresholds[0])
    d0, d1 = diff[i - 1], diff[i]
    w = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    eer = far[i - 1] + w * (far[i] - far[i - 1])
    t0, t1 = thresholds[i - 1], thresholds[i]
    t = t1 if not np.isfinite(t0) else t0 + w * (t1 - t0)
    return float(eer), float(t)


def equal_error_rate(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """(EER, threshold at the EER): where FAR equals FRR, interpolated between ROC points."""
    c = roc_curve(scores, labels)
    return _eer_from_curve(c.far, c.tar, c.thresholds)


@dataclass(frozen=True)
class TarAtFar(JsonResult):
    """TAR at a target FAR.

    Attributes:
        target_far: the FAR asked for.
        threshold: accept when ``score >= threshold``; at most ``floor(target_far * impostors)``
            impostor scores reach it.
        tar: fraction of genuine pairs accepted at the threshold.
        far: fraction of impostor pairs accepted (``<= target_far``).
        false_accepts: impostor pairs accepted.
        genuine: genuine pairs counted.
        impostors: impostor pairs counted.
        supported: ``target_far * impostors >= MIN_FALSE_ACCEPTS``.
    """

    target_far: float
    threshold: float
    tar: float
    far: float
    false_accepts: int
    genuine: int
    impostors: int
    supported: bool

    json_computed = (computed("frr"),)
    json_order = (
        "target_far", "threshold", "tar", "frr", "far", "false_accepts", "genuine", "impostors",
        "supported",
    )  # fmt: skip

    @property
    def frr(self) -> float:
        return 1.0 - self.tar


def _allowed(target_far: float, impostors: int) -> int:
    if not 0 < target_far <= 1:
        raise InvalidArgumentError(f"target FAR must be in (0, 1], got {target_far}")
    return math.floor(target_far * impostors + 1e-9)


def threshold_at_far(top_impostors: npt.ArrayLike, impostors: int, target_far: float) -> float:
    """The threshold for ``target_far`` from the largest impostor scores.

    ``top_impostors`` must contain at least the ``floor(target_far * impostors) + 1`` largest of
    the ``impostors`` impostor scores (all of them will do).
    """
    k = _allowed(target_far, impostors)
    top = np.sort(np.asarray(top_impostors, np.float64).ravel())[::-1]
    if k >= impostors:
        return -math.inf
    if len(top) < k + 1:
        raise InvalidArgumentError(f"need the {k + 1} largest impostor scores, got {len(top)}")
    return _just_above(float(top[k]))


def _just_above(score: float) -> float:
    """The smallest float32 value above ``score``.

    float32, so that the decision ``score >= threshold`` is the same whether it is made in
    float32 (NumPy compares a float32 array with a Python float in float32) or in float64.
    """
    t = np.float32(score)
    if float(t) <= score:
        t = np.nextafter(t, np.float32(np.inf))
    return float(t)


def tar_at_far(
    genuine: npt.ArrayLike,
    impostor: npt.ArrayLike,
    target_far: float,
    *,
    impostors: int | None = None,
) -> TarAtFar:
    """TAR at ``target_far``, exactly (see the module docstring).

    Args:
        genuine: every genuine score.
        impostor: every impostor score, or only the largest ones when ``impostors`` gives the
            total count (they must include the ``floor(target_far * impostors) + 1`` largest).
    """
    g = np.asarray(genuine, np.float64).ravel()
    imp = np.asarray(impostor, np.float64).ravel()
    n_imp = len(imp) if impostors is None else impostors
    if len(g) == 0 or n_imp == 0:
        raise InvalidArgumentError("need genuine and impostor scores")
    t = threshold_at_far(imp, n_imp, target_far)
    fa = int((imp >= t).sum())
    return TarAtFar(
        target_far=target_far,
        threshold=t,
        tar=float((g >= t).mean()),
        far=fa / n_imp,
        false_accepts=fa,
        genuine=len(g),
        impostors=n_imp,
        supported=target_far * n_imp >= MIN_FALSE_ACCEPTS,
    )


# --- all pairs, streamed -----------------------------------------------------------------------


def _histogram(scores: npt.NDArray[np.floating]) -> npt.NDArray[np.int64]:
    """Counts of ``scores`` (any shape) in 16384 equal bins over [-1, 1] (outside: clipped)."""
    pos = np.multiply(scores, np.float32(_BINS / 2), dtype=np.float32)
    pos += np.float32(_BINS / 2)
    np.clip(pos, 0, _BINS - 1, out=pos)
    return np.bincount(pos.astype(np.intp).ravel(), minlength=_BINS).astype(np.int64)


class PairScoreAccumulator:
    """Collects scores block by block: all genuine, the top ``keep`` impostors, histograms.

    Memory: the genuine scores, ``keep`` impostor scores and two histograms of 16384 bins.
    """

    def __init__(self, keep: int) -> None:
        if keep < 1:
            raise InvalidArgumentError(f"keep must be >= 1, got {keep}")
        self.keep = keep
        self._genuine: list[npt.NDArray[np.float32]] = []
        self._top = np.empty(0, np.float32)
        self.impostors = 0
        self.genuine_hist = np.zeros(_BINS, np.int64)
        self.impostor_hist = np.zeros(_BINS, np.int64)

    def add_genuine(self, scores: npt.NDArray[np.float32]) -> None:
        self._genuine.append(np.asarray(scores, np.float32).ravel())
        self.genuine_hist += _histogram(scores)

    def add_impostors(self, scores: npt.NDArray[np.float32]) -> None:
        s = np.asarray(scores, np.float32)  # any shape: a strided block is not copied
        self.impostors += s.size
        self.impostor_hist += _histogram(s)
        # only scores above the current k-th largest can enter the top k
        s = s[s > self._top[0]] if len(self._top) == self.keep else s.ravel()
        merged = np.concatenate([self._top, s])
        self._top = np.sort(merged if len(merged) <= self.keep else _top_k(merged, self.keep))

    @property
    def genuine(self) -> npt.NDArray[np.float32]:
        return np.concatenate(self._genuine) if self._genuine else np.empty(0, np.float32)

    @property
    def top_impostors(self) -> npt.NDArray[np.float32]:
        """The largest impostor scores seen, in decreasing order."""
        return self._top[::-1].copy()


def _top_k(s: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.float32]:
    return np.partition(s, len(s) - k)[len(s) - k :]


def histogram_roc(genuine_hist: npt.ArrayLike, impostor_hist: npt.ArrayLike) -> RocCurve:
    """ROC at the histogram's bin edges (thresholds from 1 down to -1)."""
    g = np.asarray(genuine_hist, np.float64)[::-1].cumsum()
    i = np.asarray(impostor_hist, np.float64)[::-1].cumsum()
    edges = np.linspace(-1.0, 1.0, len(g) + 1)[:-1][::-1]  # lower edge of each bin, descending
    return RocCurve(
        np.concatenate([[0.0], i / max(i[-1], 1)]),
        np.concatenate([[0.0], g / max(g[-1], 1)]),
        np.concatenate([[math.inf], edges]),
    )


@dataclass(frozen=True)
class AllPairsResult(JsonResult):
    """Verification over every pair of a labelled set of embeddings.

    Attributes:
        images: embeddings compared.
        genuine: same-identity pairs; impostors: different-identity pairs.
        tar_at_far: exact TAR at each target FAR.
        auc / eer: from the score histograms (to within one bin of width 2/16384).
        roc: histogram ROC curve, for plots.
        genuine_hist / impostor_hist: score histograms over [-1, 1] (16384 bins).
        seconds: time spent scoring.
    """

    images: int
    genuine: int
    impostors: int
    tar_at_far: tuple[TarAtFar, ...]
    auc: float
    eer: float
    eer_threshold: float
    roc: RocCurve = field(metadata=json_options(json=False))
    genuine_hist: npt.NDArray[np.int64] = field(metadata=json_options(json=False))
    impostor_hist: npt.NDArray[np.int64] = field(metadata=json_options(json=False))
    seconds: float


def all_pairs_scores(
    embeddings: npt.ArrayLike,
    labels: npt.ArrayLike,
    fars: tuple[float, ...] = (1e-4, 1e-5, 1e-6),
    *,
    valid: npt.ArrayLike | None = None,
    block: int = 2048,
) -> AllPairsResult:
    """TAR at each FAR over all ``N (N-1) / 2`` pairs of unit ``embeddings``, blockwise.

    Args:
        embeddings: (N, D) unit rows.
        labels: (N,) identity of each row.
        fars: target FARs (the highest sets how many impostor scores are kept).
        valid: (N,) rows to use (e.g. images with a face); default all.
        block: rows per block: memory is about ``block * N * 9`` bytes.
    """
    import time

    start = time.perf_counter()
    e = np.ascontiguousarray(embeddings, np.float32)
    lab = np.asarray(labels).ravel()
    if valid is not None:
        keep = np.asarray(valid, bool)
        e, lab = e[keep], lab[keep]
    if e.ndim != 2 or len(e) != len(lab) or len(e) < 2:
        raise InvalidArgumentError(
            f"need (N>=2, D) embeddings and N labels, got {e.shape} and {lab.shape}"
        )
    n = len(e)
    _, ids = np.unique(lab, return_inverse=True)
    order = np.argsort(ids, kind="stable")  # sorted identities: see _score_block
    e, ids = e[order], ids[order]
    total = n * (n - 1) // 2
    genuine_pairs = int(sum(c * (c - 1) // 2 for c in np.bincount(ids)))
    acc = PairScoreAccumulator(_allowed(max(fars), total - genuine_pairs) + 1)
    for i0 in range(0, n, block):
        _score_block(e, ids, i0, min(i0 + block, n), acc)
    tars = tuple(
        tar_at_far(acc.genuine, acc.top_impostors, f, impostors=acc.impostors) for f in fars
    )
    roc = histogram_roc(acc.genuine_hist, acc.impostor_hist)
    eer, eer_t = _eer_from_curve(roc.far, roc.tar, roc.thresholds)
    return AllPairsResult(
        images=n,
        genuine=len(acc.genuine),
        impostors=acc.impostors,
        tar_at_far=tars,
        auc=float(np.trapezoid(roc.tar, roc.far)),
        eer=eer,
        eer_threshold=eer_t,
        roc=roc,
        genuine_hist=acc.genuine_hist,
        impostor_hist=acc.impostor_hist,
        seconds=time.perf_counter() - start,
    )


def _score_block(
    e: npt.NDArray[np.float32],
    ids: npt.NDArray[np.intp],
    i0: int,
    i1: int,
    acc: PairScoreAccumulator,
) -> None:
    """Scores of rows i0:i1 against every later row (j > i); ``ids`` must be sorted.

    With sorted identities a row's genuine partners are contiguous, so only the block's own
    square and the few columns after it that continue its last identity need a mask; every
    other score of the block is an impostor score as it comes out of the matrix product.
    """
    sims = e[i0:i1] @ e[i0:].T  # (b, n - i0); column c is row i0 + c
    tail = i1 + int(np.searchsorted(ids[i1:], ids[i1 - 1], side="right"))  # same id continues
    head = sims[:, : tail - i0]
    valid = np.triu(np.ones(head.shape, bool), k=1)
    same = ids[i0:i1, None] == ids[None, i0:tail]
    acc.add_genuine(head[valid & same])
    acc.add_impostors(head[valid & ~same])
    if tail - i0 < sims.shape[1]:
        acc.add_impostors(sims[:, tail - i0 :])
