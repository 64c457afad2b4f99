"""Measured score distributions of packs: the cosine statistics of genuine (same person) and
impostor (different people) pairs of a pack's embeddings. A leaf module of data: family
resemblance calibrates against it, the synthetic benchmark galleries are fitted to it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LFW_SCORES", "ScoreDistribution"]


@dataclass(frozen=True)
class ScoreDistribution:
    """Means and standard deviations of genuine and impostor cosine similarities."""

    genuine_mean: float
    genuine_std: float
    impostor_mean: float
    impostor_std: float


#: dlib's ResNet embeddings of LFW faces (template pairs); ``dlib-reference`` and the default
#: ``dlib-blazeface`` (and its two-pass variant) run the same network on dlib's chip, so they
#: share them
LFW_SCORES: dict[str, ScoreDistribution] = {
    "dlib": ScoreDistribution(0.953, 0.017, 0.836, 0.034),
    "dlib-reference": ScoreDistribution(0.953, 0.017, 0.836, 0.034),
    "dlib-blazeface": ScoreDistribution(0.953, 0.017, 0.836, 0.034),
    "dlib-blazeface-2pass": ScoreDistribution(0.953, 0.017, 0.836, 0.034),
}
