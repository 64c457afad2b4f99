"""Plots of verification results with matplotlib (Agg backend: no display needed).

:func:`plot_verification` draws two panels into one PNG: the ROC curve with a logarithmic FAR
axis, and the genuine and impostor similarity histograms with the decision threshold marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from faceprint.errors import EvaluationError
from faceprint.evaluate.metrics import RocCurve

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_verification", "rebin"]


def rebin(
    hist: npt.ArrayLike, lo: int, hi: int, bins: int = 120
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Fine bins ``lo:hi`` of a histogram over [-1, 1] summed into about ``bins`` equal bins:
    (counts, edges)."""
    h = np.asarray(hist, np.float64)
    step = max(1, -(-(hi - lo) // bins))
    hi = min(len(h), lo + step * -(-(hi - lo) // step))
    part = np.pad(h[lo:hi], (0, (-(hi - lo)) % step)).reshape(-1, step).sum(1)
    edges = -1.0 + (2.0 / len(h)) * (lo + step * np.arange(len(part) + 1, dtype=np.float64))
    return part.astype(np.float64), edges


def _occupied(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[int, int]:
    """First and one-past-last non-empty bin of either histogram."""
    total = np.asarray(a) + np.asarray(b)
    nonzero = np.flatnonzero(total)
    return (int(nonzero[0]), int(nonzero[-1]) + 1) if len(nonzero) else (0, len(total))


def _raw_hist(
    scores: npt.ArrayLike, span: tuple[float, float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    counts, edges = np.histogram(np.asarray(scores, np.float64), bins=60, range=span)
    return counts.astype(np.float64), edges.astype(np.float64)


def _density(
    counts: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    total = counts.sum()
    return counts / (total * np.diff(edges)) if total else counts


def plot_verification(
    out: str | Path,
    roc: RocCurve,
    genuine: npt.ArrayLike,
    impostor: npt.ArrayLike,
    *,
    threshold: float | None = None,
    title: str = "",
    histograms: bool = False,
) -> Path:
    """Write the ROC (log FAR) and score histograms to ``out`` (PNG); returns the path.

    Args:
        roc: the ROC curve (points with FAR = 0 are left out of the log axis).
        genuine / impostor: raw scores, or with ``histograms=True`` fine histograms over [-1, 1]
            (as :class:`~faceprint.evaluate.metrics.AllPairsResult` holds); the panel shows the
            range the scores occupy.
        threshold: marked on the histograms when given.
    """
    from faceprint._optional import require

    matplotlib = require("matplotlib", feature="a plot")
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax_roc, ax_hist = fig.subplots(1, 2)
    _roc_panel(ax_roc, roc)
    _hist_panel(ax_hist, genuine, impostor, threshold, histograms)
    if title:
        fig.suptitle(title)
    path = Path(out)
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise EvaluationError(f"cannot write the plot {path}: {exc}") from exc
    return path


def _roc_panel(ax: Axes, roc: RocCurve) -> None:
    keep = roc.far > 0
    ax.plot(roc.far[keep], roc.tar[keep], lw=1.5)
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title("ROC")
    ax.grid(True, which="both", alpha=0.3)


def _hist_panel(
    ax: Axes,
    genuine: npt.ArrayLike,
    impostor: npt.ArrayLike,
    threshold: float | None,
    histograms: bool,
) -> None:
    if histograms:
        lo, hi = _occupied(genuine, impostor)
        panels = [rebin(genuine, lo, hi), rebin(impostor, lo, hi)]
    else:
        both = np.concatenate([np.ravel(genuine), np.ravel(impostor)]).astype(np.float64)
        span = (float(both.min()), float(both.max()) + 1e-9)
        panels = [_raw_hist(genuine, span), _raw_hist(impostor, span)]
    for (counts, edges), label in zip(panels, ("genuine", "impostor"), strict=True):
        ax.stairs(_density(counts, edges), edges, label=label, fill=True, alpha=0.5)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3f}")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density")
    ax.set_title("score distributions")
    ax.legend()
