"""Identification (1:N) on a labelled set of embeddings, LFW style.

* **Closed set**: every identity with at least two images enrols its first image (in the order
  given) in the gallery; its other images are *mated* probes. Rank-k accuracy is the fraction of
  mated probes whose mate is among the k most similar gallery entries (ties count against).
* **Open set**: identities with a single image are not enrolled; their images are *non-mated*
  probes. At a threshold ``t``, FPIR is the fraction of non-mated probes whose best gallery score
  reaches ``t``; FNIR is the fraction of mated probes whose best candidate is not their mate or
  scores below ``t``. FNIR is reported at fixed FPIR targets, the threshold being set exactly from
  the non-mated probes' best scores (as FAR in :mod:`faceprint.evaluate.metrics`).
* **Distractors**: the single-image identities are added to the gallery, in a fixed random order,
  and rank-1 of the mated probes is measured as they grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult
from faceprint.errors import EvaluationError
from faceprint.evaluate.metrics import MIN_FALSE_ACCEPTS, threshold_at_far

__all__ = [
    "DistractorPoint",
    "IdentificationResult",
    "OpenSetPoint",
    "evaluate_identification",
    "split_gallery",
]


@dataclass(frozen=True)
class OpenSetPoint(JsonResult):
    """FNIR at one FPIR target.

    Attributes:
        target_fpir: the FPIR asked for; fpir: the FPIR met (``<= target_fpir``).
        threshold: the search threshold that meets it.
        fnir: the fraction of mated probes missed at that threshold.
        supported: at least ``MIN_FALSE_ACCEPTS`` false alarms are allowed by the target.
    """

    target_fpir: float
    threshold: float
    fpir: float
    fnir: float
    supported: bool


@dataclass(frozen=True)
class DistractorPoint(JsonResult):
    """Closed-set rank-1 with ``distractors`` extra identities in a gallery of ``gallery`` entries."""

    distractors: int
    gallery: int
    rank1: float


@dataclass(frozen=True)
class IdentificationResult(JsonResult):
    """Closed-set, open-set and distractor results (see the module docstring).

    Attributes:
        enrolled: identities in the gallery (one image each).
        mated_probes: probes whose identity is enrolled.
        non_mated_probes: probes of identities not enrolled.
        rank1 / rank5: closed-set rank-1 and rank-5 accuracy of the mated probes.
        open_set: FNIR at each FPIR target.
        distractor_curve: rank-1 as distractors are added.
    """

    enrolled: int
    mated_probes: int
    non_mated_probes: int
    rank1: float
    rank5: float
    open_set: tuple[OpenSetPoint, ...]
    distractor_curve: tuple[DistractorPoint, ...]


@dataclass(frozen=True)
class _Split:
    gallery: npt.NDArray[np.intp]  # row of each enrolled image
    probes: npt.NDArray[np.intp]  # rows of mated probes
    mate: npt.NDArray[np.intp]  # gallery position of each mated probe's identity
    singles: npt.NDArray[np.intp]  # rows of single-image identities


def split_gallery(labels: npt.ArrayLike) -> tuple[npt.NDArray[np.intp], ...]:
    """(gallery rows, mated probe rows, each probe's gallery position, single-image rows)."""
    s = _split(np.asarray(labels))
    return s.gallery, s.probes, s.mate, s.singles


def _split(labels: npt.NDArray[Any]) -> _Split:
    _, first, inverse, counts = np.unique(
        labels, return_index=True, return_inverse=True, return_counts=True
    )
    multi = counts >= 2
    gallery = np.sort(first[multi])
    position = np.full(len(counts), -1, np.intp)
    position[inverse[gallery]] = np.arange(len(gallery))
    is_first = np.zeros(len(labels), bool)
    is_first[first] = True
    probes = np.flatnonzero(multi[inverse] & ~is_first)
    singles = np.flatnonzero(~multi[inverse])
    return _Split(gallery, probes, position[inverse[probes]], singles)


def _ranks(sims: npt.NDArray[np.float32], mate: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """1-based rank of each probe's mate (entries scoring at least as high count ahead)."""
    mate_score = sims[np.arange(len(mate)), mate]
    return (sims >= mate_score[:, None]).sum(1)  # the mate itself is counted: rank >= 1


def _open_set(
    mated_best: npt.NDArray[np.float32],
    mated_hit: npt.NDArray[np.bool_],
    non_mated_best: npt.NDArray[np.float32],
    fpirs: tuple[float, ...],
) -> tuple[OpenSetPoint, ...]:
    n = len(non_mated_best)
    points = []
    for f in fpirs:
        t = threshold_at_far(non_mated_best, n, f)
        fnir = float((~(mated_hit & (mated_best >= t))).mean())
        fpir = float((non_mated_best >= t).mean())
        points.append(OpenSetPoint(f, t, fpir, fnir, f * n >= MIN_FALSE_ACCEPTS))
    return tuple(points)


def _distractor_curve(
    sims: npt.NDArray[np.float32],
    mate: npt.NDArray[np.intp],
    distractor_sims: npt.NDArray[np.float32],
    steps: tuple[int, ...],
) -> tuple[DistractorPoint, ...]:
    mate_score = sims[np.arange(len(mate)), mate]
    others = sims.copy()
    others[np.arange(len(mate)), mate] = -np.inf
    best_other = others.max(1) if others.shape[1] else np.full(len(mate), -np.inf)
    running = np.maximum.accumulate(distractor_sims, axis=1) if distractor_sims.size else None
    points = []
    for d in steps:
        rival = (
            best_other if d == 0 or running is None else np.maximum(best_other, running[:, d - 1])
        )
        points.append(DistractorPoint(d, sims.shape[1] + d, float((mate_score > rival).mean())))
    return tuple(points)


def evaluate_identification(
    embeddings: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    valid: npt.ArrayLike | None = None,
    fpirs: tuple[float, ...] = (1e-1, 1e-2, 1e-3),
    distractor_steps: tuple[int, ...] | None = None,
    seed: int = 0,
) -> IdentificationResult:
    """Closed-set rank-1/5, open-set FNIR at FPIR, and rank-1 against distractors.

    Args:
        embeddings: (N, D) unit rows; labels: (N,) identities.
        valid: (N,) rows to use (images with a face); default all.
        fpirs: FPIR targets of the open-set evaluation.
        distractor_steps: numbers of distractors to measure rank-1 at (default: 0, 1000, 2000,
            ... and all single-image identities).
        seed: order in which distractors are added.
    """
    e = np.asarray(embeddings, np.float32)
    lab = np.asarray(labels).ravel()
    if valid is not None:
        keep = np.asarray(valid, bool)
        e, lab = e[keep], lab[keep]
    s = _split(lab)
    if len(s.gallery) == 0 or len(s.probes) == 0:
        raise EvaluationError("identification needs identities with at least two images")
    sims = e[s.probes] @ e[s.gallery].T
    ranks = _ranks(sims, s.mate)
    order = np.random.default_rng(seed).permutation(s.singles)
    distractor_sims = e[s.probes] @ e[order].T
    steps = distractor_steps or (*range(0, len(order), 1000), len(order))
    best = sims.max(1)
    non_mated_best = (e[s.singles] @ e[s.gallery].T).max(1)
    return IdentificationResult(
        enrolled=len(s.gallery),
        mated_probes=len(s.probes),
        non_mated_probes=len(s.singles),
        rank1=float((ranks == 1).mean()),
        rank5=float((ranks <= 5).mean()),
        open_set=_open_set(best, ranks == 1, non_mated_best, fpirs) if len(s.singles) else (),
        distractor_curve=_distractor_curve(
            sims, s.mate, distractor_sims, tuple(d for d in steps if d <= len(order))
        ),
    )
