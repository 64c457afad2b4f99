"""Rank-1 identification as the gallery grows: real distractors first, then simulated ones.

The protocol (MegaFace-style, one mate per probe):

- **probes**: identities with at least two images; one image is enrolled (the *mate*), another
  is the probe. :func:`split_lfw` takes them from the people with the fewest images, so that as
  many images as possible are left for distractors;
- **distractors**: images of people who are not probe identities, added in one fixed random
  order; a probe is right at gallery size ``D`` when its mate scores higher than every one of
  the first ``D`` distractors (and every other mate);
- **beyond the real images**, distractors are drawn from :class:`GaussianFaces`, a Gaussian fitted
  to one image per distractor person (mean and full covariance of the embeddings, then
  normalised; optionally with heavier tails fitted by :func:`fit_tail` on the mates' scores)
  and streamed in chunks, so 10M of them never sit in memory. The generator is
  validated against the real impostor scores by :func:`compare_scores` (probe-distractor cosine
  quantiles and the per-probe maximum over as many distractors as there are real ones) and by
  the rank-1 of synthetic distractors at the real gallery sizes (:func:`rank1_curve` with
  ``real=False``), where both can be measured.

Exact rank-1 needs only the running maximum distractor score of each probe
(:class:`RunningMax`); an index backend's rank-1 is measured by adding the same distractors to
it and asking for each probe's top-1 (:func:`index_rank1`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult
from faceprint.errors import InvalidArgumentError
from faceprint.index import create_index

__all__ = [
    "GaussianFaces",
    "RankSplit",
    "RunningMax",
    "ScoreComparison",
    "compare_scores",
    "fit_tail",
    "index_rank1",
    "rank1_curve",
    "split_lfw",
]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
CHUNK = 65536


@dataclass(frozen=True)
class RankSplit:
    """Probe, mate and distractor rows of an embedding matrix (see the module docstring)."""

    probes: IntArray
    mates: IntArray
    distractors: IntArray  # in the order they join the gallery

    @property
    def people(self) -> int:
        return len(self.probes)


def split_lfw(
    names: Sequence[str], valid: npt.ArrayLike, *, probes: int = 1000, seed: int = 0
) -> RankSplit:
    """Probe identities from the people with the fewest (≥ 2) valid images; distractors: every
    valid image of everyone else, shuffled."""
    names_arr = np.asarray(names)
    ok = np.asarray(valid, bool)
    people, counts = np.unique(names_arr[ok], return_counts=True)
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(counts >= 2)
    order = eligible[np.lexsort((rng.random(len(eligible)), counts[eligible]))]
    chosen = set(people[order[:probes]].tolist())
    rows = np.flatnonzero(ok)
    mates, probe_rows = [], []
    for person in sorted(chosen):
        mine = rows[names_arr[rows] == person]
        mates.append(mine[0])
        probe_rows.append(mine[1])
    others = rows[~np.isin(names_arr[rows], sorted(chosen))]
    return RankSplit(
        np.asarray(probe_rows, np.int64), np.asarray(mates, np.int64), rng.permutation(others)
    )


class RunningMax:
    """Per-probe maximum score over distractors offered in blocks, with snapshots at sizes."""

    def __init__(self, probes: FloatArray, floor: FloatArray | None = None) -> None:
        self.probes = np.ascontiguousarray(probes, np.float32)
        self.best = np.full(len(probes), -np.inf, np.float32) if floor is None else floor.copy()
        self.count = 0

    def push(self, block: FloatArray) -> None:
        if len(block):
            np.maximum(self.best, (self.probes @ block.T).max(axis=1), out=self.best)
            self.count += len(block)

    def feed(self, blocks: Iterator[FloatArray], sizes: Sequence[int]) -> dict[int, FloatArray]:
        """Push ``blocks`` (split where needed) and return ``best`` at each size of ``sizes``
        (distractors pushed so far, counted from this object's creation)."""
        out: dict[int, FloatArray] = {}
        todo = sorted(s for s in sizes if s >= self.count)
        for s in [s for s in todo if s == self.count]:
            out[s] = self.best.copy()
        todo = [s for s in todo if s > self.count]
        for block in blocks:
            while len(block) and todo:
                take = min(len(block), todo[0] - self.count)
                self.push(block[:take])
                block = block[take:]
                if self.count == todo[0]:
                    out[todo.pop(0)] = self.best.copy()
            if not todo:
                break
        return out


def rank1_curve(
    probes: FloatArray,
    mates: FloatArray,
    blocks: Iterator[FloatArray],
    sizes: Sequence[int],
    *,
    start: FloatArray | None = None,
) -> dict[int, float]:
    """Exact rank-1 at each number of distractors in ``sizes`` (mates compete too).

    ``start``: each probe's best distractor score so far (distractors counted before
    ``blocks``, e.g. every real one before the synthetic ones)."""
    p = np.ascontiguousarray(probes, np.float32)
    m = np.ascontiguousarray(mates, np.float32)
    all_mates = p @ m.T
    own = np.diag(all_mates).copy()
    np.fill_diagonal(all_mates, -np.inf)
    floor = all_mates.max(axis=1) if len(m) > 1 else np.full(len(p), -np.inf, np.float32)
    if start is not None:
        floor = np.maximum(floor, start)
    snaps = RunningMax(p, floor.astype(np.float32)).feed(blocks, sizes)
    return {s: float(np.mean(own > best)) for s, best in snaps.items()}


def blocks_of(x: FloatArray, size: int = CHUNK) -> Iterator[FloatArray]:
    """Rows of ``x`` in blocks."""
    for s in range(0, len(x), size):
        yield np.ascontiguousarray(x[s : s + size], np.float32)


class GaussianFaces:
    """Face-like unit vectors: ``normalise(mu + s L z)``, ``mu`` and ``L L^T`` the mean and
    covariance of real embeddings (one image per person: a random face of a random person).

    ``tail``: each sample's deviation is scaled by ``s = exp(tail * g - tail**2)``, ``g`` a
    standard normal (``E[s^2] = 1``: the covariance is kept, the tails get heavier); 0 is a plain
    Gaussian. :func:`fit_tail` chooses it so that the extreme impostor scores match real ones."""

    def __init__(self, real: FloatArray, tail: float = 0.0) -> None:
        self.tail = float(tail)
        x = np.asarray(real, np.float64)
        if x.ndim != 2 or len(x) <= x.shape[1]:
            raise InvalidArgumentError(
                f"need more real vectors than dimensions, got shape {x.shape}"
            )
        self.mean = x.mean(axis=0)
        cov = np.cov(x, rowvar=False)
        vals, vecs = np.linalg.eigh(cov)
        self.factor = (vecs * np.sqrt(np.clip(vals, 0, None))).T.astype(np.float32)
        self.dim = x.shape[1]

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        z = rng.standard_normal((n, self.dim), dtype=np.float32)
        if self.tail:
            g = rng.standard_normal((n, 1)).astype(np.float32)
            z *= np.exp(self.tail * g - self.tail**2)
        x = z @ self.factor + self.mean.astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def blocks(self, n: int, *, seed: int = 0, size: int = CHUNK) -> Iterator[FloatArray]:
        """``n`` samples in blocks of ``size`` (the same stream for a seed, whatever reads it)."""
        rng = np.random.default_rng([seed, 11])
        for s in range(0, n, size):
            yield self.sample(min(size, n - s), rng)


def fit_tail(
    real: FloatArray,
    queries: FloatArray,
    people: FloatArray,
    *,
    quantile: float = 0.9999,
    seed: int = 0,
) -> float:
    """The ``tail`` of :class:`GaussianFaces` (fitted on ``people``, one image per person)
    whose ``quantile`` of query-distractor cosines equals that of the ``real`` distractors
    (bisection; use other queries than the ones the generator is checked with)."""
    want = float(np.quantile(queries @ real.T, quantile))
    lo, hi = 0.0, 1.0
    for _ in range(12):
        mid = (lo + hi) / 2
        fake = GaussianFaces(people, mid).sample(len(real), np.random.default_rng([seed, 5]))
        if float(np.quantile(queries @ fake.T, quantile)) < want:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class ScoreComparison(JsonResult):
    """Probe-distractor cosines of real and synthetic distractors, side by side."""

    quantiles: tuple[float, ...]
    real: tuple[float, ...]
    synthetic: tuple[float, ...]
    real_mean: float
    synthetic_mean: float
    real_std: float
    synthetic_std: float
    ks: float  # Kolmogorov-Smirnov distance of the two score distributions
    max_real: tuple[float, ...]  # quantiles of each probe's max over the real distractors
    max_synthetic: tuple[float, ...]  # ... over as many synthetic ones


def compare_scores(
    probes: FloatArray,
    real: FloatArray,
    synthetic: FloatArray,
    quantiles: Sequence[float] = (0.5, 0.9, 0.99, 0.999, 0.9999),
) -> ScoreComparison:
    """How well ``synthetic`` distractors reproduce the impostor scores of ``real`` ones."""
    a = (probes @ real.T).ravel()
    b = (probes @ synthetic.T).ravel()
    qs = tuple(float(q) for q in quantiles)
    grid = np.sort(np.concatenate([a, b]))
    ks = float(
        np.max(
            np.abs(
                np.searchsorted(np.sort(a), grid) / len(a)
                - np.searchsorted(np.sort(b), grid) / len(b)
            )
        )
    )
    mq = (0.1, 0.5, 0.9)
    return ScoreComparison(
        quantiles=qs,
        real=tuple(float(v) for v in np.quantile(a, qs)),
        synthetic=tuple(float(v) for v in np.quantile(b, qs)),
        real_mean=float(a.mean()),
        synthetic_mean=float(b.mean()),
        real_std=float(a.std()),
        synthetic_std=float(b.std()),
        ks=ks,
        max_real=tuple(float(v) for v in np.quantile((probes @ real.T).max(axis=1), mq)),
        max_synthetic=tuple(float(v) for v in np.quantile((probes @ synthetic.T).max(axis=1), mq)),
    )


def index_rank1(
    backend: str,
    params: dict[str, Any],
    probes: FloatArray,
    mates: FloatArray,
    blocks: Iterator[FloatArray],
    sizes: Sequence[int],
    *,
    say: Callable[[str], None] = lambda _: None,
) -> dict[int, dict[str, float]]:
    """Rank-1 of index ``backend`` at each number of distractors in ``sizes``: mates get ids
    ``1..P``, distractors are added in blocks, and at each size every probe asks for its top-1
    (right when it is its own mate). Also the seconds spent adding and searching."""

    index = create_index(backend, probes.shape[1], **params)
    out: dict[int, dict[str, float]] = {}
    truth = np.arange(1, len(probes) + 1)
    todo = sorted(sizes)
    added, add_s = 0, 0.0

    def measure() -> None:
        t = time.perf_counter()
        top = index.search(probes, 1).ids[:, 0]
        right = float(np.mean(top == truth))
        out[todo.pop(0)] = {"rank1": right, "add_s": add_s, "search_s": time.perf_counter() - t}
        say(f"{backend}: {added} distractors, rank-1 {right:.4f}")

    try:
        index.add(truth, np.ascontiguousarray(mates, np.float32))
        while todo and todo[0] == 0:
            measure()
        for block in _sized(blocks, todo):
            t = time.perf_counter()
            first = len(mates) + added + 1
            index.add(np.arange(first, first + len(block)), block)
            add_s += time.perf_counter() - t
            added += len(block)
            while todo and added == todo[0]:
                measure()
            if not todo:
                break
    finally:
        index.close()
    return out


def _sized(blocks: Iterator[FloatArray], sizes: list[int]) -> Iterator[FloatArray]:
    """``blocks`` re-cut so that a block ends at each of ``sizes`` (cumulative counts)."""
    count, marks = 0, list(sizes)
    for block in blocks:
        while len(block):
            marks = [m for m in marks if m > count]
            take = min(len(block), marks[0] - count) if marks else len(block)
            yield block[:take]
            count += take
            block = block[take:]
