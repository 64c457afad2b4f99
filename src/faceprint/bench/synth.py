"""Synthetic face embeddings with realistic genuine / impostor similarity distributions.

Uniform random unit vectors are a poor stand-in for face embeddings: in 512-d their cosines
all sit within ±0.1 of 0, every query is equally far from everything, and search indexes look
either perfect or useless. Real embeddings have structure this generator reproduces:

- **a shared offset**: every embedding leans towards a common "mean face" direction ``m``
  (strong for dlib, whose impostor pairs average a cosine of 0.84 on LFW; weak for ArcFace-class
  models), which sets the *mean* impostor similarity;
- **identity centres in a low effective dimension**: an identity is ``c = U (sqrt(lam) * z)``
  with ``z ~ N(0, I)``, a random orthonormal basis ``U`` and a power-law spectrum
  ``lam_i ~ i^-id_alpha``; the spectrum's effective dimension ``(sum lam)^2 / sum lam^2`` sets
  the *spread* of impostor similarities (roughly ``1 / sqrt(d_eff)``);
- **template noise with varying quality**: each template adds ``s_t * V (sqrt(nu) * e)`` (its own
  basis and spectrum) with a log-normal scale ``s_t = noise * exp(quality_spread * g)``, so most
  templates are close to their centre and a few (blur, pose) are far, giving the left tail of
  the genuine distribution.

A template is ``normalise(mean_norm * m + c + s_t * n)`` (identity part of unit expected norm).
The four numbers (``mean_norm``, ``id_alpha``, ``noise``, ``quality_spread``) are fitted by
:func:`calibrate` so that genuine/impostor mean and standard deviation match target statistics:
for the ``dlib`` preset those measured on real dlib embeddings of LFW faces (see docs/benchmarks/search.md
for the comparison table and command), for ``arcface`` typical values of ArcFace-class 512-d models
(impostor mean ~0, spread ~0.07; genuine ~0.6) — no such model's embeddings are available here
to check the 512-d preset against real data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult
from faceprint.errors import InvalidArgumentError
from faceprint.packs.scores import DLIB_LFW_SCORES, ScoreDistribution

__all__ = [
    "PRESETS",
    "SimilarityStats",
    "SynthGallery",
    "SynthSpec",
    "calibrate",
    "make_gallery",
    "similarity_stats",
    "synth_spec",
]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
CHUNK = 65536


@dataclass(frozen=True)
class SimilarityStats(JsonResult):
    """Cosine statistics of genuine (same identity) and impostor (different) template pairs."""

    genuine_mean: float
    genuine_std: float
    genuine_p5: float
    impostor_mean: float
    impostor_std: float
    impostor_p99: float
    impostor_p999: float
    genuine_pairs: int
    impostor_pairs: int


#: what :func:`calibrate` fits: means and standard deviations of both distributions
SimilarityTargets = ScoreDistribution


@dataclass(frozen=True)
class SynthSpec(JsonResult):
    """Parameters of the generator (see the module docstring)."""

    dim: int
    mean_norm: float
    id_alpha: float
    noise: float
    quality_spread: float
    noise_alpha: float = 0.5


#: target statistics per preset: ``dlib`` measured on 596 real embeddings of 150 LFW people
#: (4 images each, faceprint's dlib pack: HOG detector, 5-point alignment, dlib ResNet);
#: ``arcface``: typical values of ArcFace-class models (not checked against real 512-d data here)
PRESETS: dict[str, tuple[int, SimilarityTargets]] = {
    "dlib": (128, DLIB_LFW_SCORES),
    "arcface": (512, SimilarityTargets(0.62, 0.12, 0.02, 0.065)),
}

#: fitted by ``calibrate(PRESETS[name] targets)``; regenerate with ``faceprint bench synth --fit``
_FITTED: dict[str, SynthSpec] = {
    "dlib": SynthSpec(
        128, 2.6514923879596477, 0.855565310775808, 0.6334732936133252, 0.22853814363601913
    ),
    "arcface": SynthSpec(
        512, 0.18330373409360765, 0.6930644685176409, 0.8501486968428438, 0.36212594023123035
    ),
}


def _spectrum(dim: int, alpha: float) -> npt.NDArray[np.float64]:
    lam = np.arange(1, dim + 1, dtype=np.float64) ** -alpha
    return lam / lam.sum()


def effective_dim(dim: int, alpha: float) -> float:
    """``(sum lam)^2 / sum lam^2`` of the power-law spectrum."""
    lam = _spectrum(dim, alpha)
    return float(1.0 / np.sum(lam**2))


def _orthonormal(dim: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


class _Model:
    """The fixed random parts (mean direction, bases) of one spec and seed."""

    def __init__(self, spec: SynthSpec, seed: int) -> None:
        rng = np.random.default_rng([seed, 7919])
        self.spec = spec
        m = rng.standard_normal(spec.dim)
        self.mean = (m / np.linalg.norm(m) * spec.mean_norm).astype(np.float32)
        self.id_map = (
            np.sqrt(_spectrum(spec.dim, spec.id_alpha))[:, None] * _orthonormal(spec.dim, rng).T
        ).astype(np.float32)
        self.noise_map = (
            np.sqrt(_spectrum(spec.dim, spec.noise_alpha))[:, None] * _orthonormal(spec.dim, rng).T
        ).astype(np.float32)

    def centres(self, n: int, rng: np.random.Generator) -> FloatArray:
        z = rng.standard_normal((n, self.spec.dim), dtype=np.float32)
        return z @ self.id_map + self.mean

    def templates(self, centres: FloatArray, rng: np.random.Generator) -> FloatArray:
        """One noisy unit template per row of ``centres``."""
        n, s = len(centres), self.spec
        e = rng.standard_normal((n, s.dim), dtype=np.float32)
        g = rng.standard_normal((n, 1)).astype(np.float32)
        scale = s.noise * np.exp(s.quality_spread * g - s.quality_spread**2)
        x = centres + scale * (e @ self.noise_map)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


def similarity_stats(
    vectors: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    impostor_pairs: int = 200_000,
    seed: int = 0,
) -> SimilarityStats:
    """Genuine (all same-label pairs, up to 200k) and sampled impostor pair cosines."""
    x = np.asarray(vectors, dtype=np.float32)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    lab = np.asarray(labels)
    rng = np.random.default_rng(seed)
    gi, gj = _genuine_pairs(lab, rng, limit=200_000)
    a, b = rng.integers(0, len(x), (2, impostor_pairs))
    diff = lab[a] != lab[b]
    a, b = a[diff], b[diff]
    gen = np.einsum("ij,ij->i", x[gi], x[gj])
    imp = np.einsum("ij,ij->i", x[a], x[b])
    return SimilarityStats(
        genuine_mean=float(gen.mean()),
        genuine_std=float(gen.std()),
        genuine_p5=float(np.percentile(gen, 5)),
        impostor_mean=float(imp.mean()),
        impostor_std=float(imp.std()),
        impostor_p99=float(np.percentile(imp, 99)),
        impostor_p999=float(np.percentile(imp, 99.9)),
        genuine_pairs=len(gen),
        impostor_pairs=len(imp),
    )


def _genuine_pairs(
    labels: npt.NDArray[Any], rng: np.random.Generator, *, limit: int
) -> tuple[IntArray, IntArray]:
    order = np.argsort(labels, kind="stable")
    _, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    pairs = [
        (order[s + i], order[s + j])
        for s, c in zip(starts, counts, strict=True)
        for i in range(c)
        for j in range(i + 1, c)
    ]
    if not pairs:
        raise InvalidArgumentError("no identity has two templates: genuine pairs need them")
    arr = np.array(pairs, dtype=np.int64)
    if len(arr) > limit:
        arr = arr[rng.choice(len(arr), limit, replace=False)]
    return arr[:, 0], arr[:, 1]


def _simulate(spec: SynthSpec, identities: int, seed: int) -> SimilarityStats:
    model = _Model(spec, seed)
    rng = np.random.default_rng([seed, 1])
    centres = model.centres(identities, rng)
    x = model.templates(np.repeat(centres, 2, axis=0), rng)
    return similarity_stats(
        x, np.repeat(np.arange(identities), 2), impostor_pairs=50_000, seed=seed
    )


def calibrate(
    dim: int, targets: SimilarityTargets, *, identities: int = 3000, seed: int = 0
) -> SynthSpec:
    """Fit the generator's four parameters so simulated statistics match ``targets``."""
    from scipy.optimize import least_squares

    want = np.array(
        [targets.genuine_mean, targets.genuine_std, targets.impostor_mean, targets.impostor_std]
    )
    scale = np.array([1.0, 0.5, 1.0, 0.5])

    def spec_of(p: npt.NDArray[np.float64]) -> SynthSpec:
        return SynthSpec(
            dim, float(np.exp(p[0])), float(np.exp(p[1])), float(np.exp(p[2])), float(np.exp(p[3]))
        )

    def residual(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        st = _simulate(spec_of(p), identities, seed)
        got = np.array([st.genuine_mean, st.genuine_std, st.impostor_mean, st.impostor_std])
        return (got - want) / scale

    t = 1.0 / max(targets.genuine_mean - targets.impostor_mean, 1e-3)
    mu2 = max(targets.impostor_mean * t, 1e-3)
    noise2 = max(t - mu2 - 1.0, 1e-2)
    p0 = np.log([np.sqrt(mu2), 0.5, np.sqrt(noise2), 0.3])
    fit = least_squares(residual, p0, diff_step=1e-2, xtol=1e-6, max_nfev=200)
    return spec_of(fit.x)


def synth_spec(preset: Literal["dlib", "arcface"] | str, dim: int | None = None) -> SynthSpec:
    """The fitted spec of a preset (``dim`` overrides its size, keeping its parameters)."""
    if preset not in PRESETS:
        raise InvalidArgumentError(
            f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}"
        )
    native, targets = PRESETS[preset]
    spec = _FITTED.get(preset) or calibrate(native, targets)
    return spec if dim is None or dim == native else replace(spec, dim=int(dim))


@dataclass(frozen=True)
class SynthGallery:
    """A synthetic gallery and probes.

    Attributes:
        vectors: ``(N, dim)`` unit float32 templates to enrol.
        ids: ``(N,)`` int64 template ids (``1..N``).
        labels: ``(N,)`` identity of each template.
        probes: ``(P, dim)`` unit float32 query templates, not in the gallery.
        probe_labels: ``(P,)`` identity of each probe; ``-1`` for identities never enrolled.
        spec: the generator parameters.
    """

    vectors: FloatArray
    ids: IntArray
    labels: IntArray
    probes: FloatArray
    probe_labels: IntArray
    spec: SynthSpec


def make_gallery(
    n: int,
    spec: SynthSpec,
    *,
    templates_per_identity: int = 5,
    probes: int = 1000,
    open_set_fraction: float = 0.5,
    seed: int = 0,
    out: Path | None = None,
) -> SynthGallery:
    """``n`` templates of ``ceil(n / templates_per_identity)`` identities, plus probes.

    Probes: ``(1 - open_set_fraction)`` of them are fresh templates of random enrolled identities
    (closed set), the rest are templates of identities that are not enrolled (open set).

    ``out``: write the templates to this ``.npy`` file in chunks and return them memory-mapped
    (galleries larger than RAM: 10M x 128 is 5.1 GB as float32); the same values as in RAM.
    """
    model = _Model(spec, seed)
    rng = np.random.default_rng([seed, 2])
    n_ids = -(-n // templates_per_identity)
    centres = model.centres(n_ids, rng)
    labels = np.repeat(np.arange(n_ids, dtype=np.int64), templates_per_identity)[:n]
    vectors: FloatArray
    if out is None:
        vectors = np.empty((n, spec.dim), np.float32)
    else:
        vectors = np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=(n, spec.dim))
    for s in range(0, n, CHUNK):
        vectors[s : s + CHUNK] = model.templates(centres[labels[s : s + CHUNK]], rng)
    if isinstance(vectors, np.memmap):
        vectors.flush()
        vectors = np.load(out, mmap_mode="r")  # type: ignore[arg-type]
    n_open = round(probes * open_set_fraction)
    known = rng.integers(0, n_ids, probes - n_open)
    probe_centres = np.concatenate([centres[known], model.centres(n_open, rng)])
    probe_labels = np.concatenate([known, np.full(n_open, -1, np.int64)])
    return SynthGallery(
        vectors=vectors,
        ids=np.arange(1, n + 1, dtype=np.int64),
        labels=labels,
        probes=model.templates(probe_centres, rng),
        probe_labels=probe_labels,
        spec=spec,
    )
