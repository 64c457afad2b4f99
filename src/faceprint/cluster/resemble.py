"""Family resemblance: which of several relatives a child's face is closest to, calibrated.

Raw cosine similarities of different people are not comparable: some faces are close to
everyone (a "hub" face scores high against any child). So each child-relative similarity ``s``
is calibrated against that relative's **impostor distribution**, the similarities of the
relative's face to faces of unrelated people:

- ``z = (s - mean) / std``: how many standard deviations the child is above a typical unrelated
  face, for that relative;
- ``percentile``: the share of unrelated faces less similar to the relative than the child is.

The impostor distribution comes from a **reference set** of unrelated faces the caller passes
(``reference=`` embeddings; the CLI's ``--reference DIR`` of photos; 100+ faces, for example a
folder of LFW images or a photo library), computed per relative, with reference faces at or
above the pack's verification threshold to that relative dropped (they are probably the same
person). Without one, the pack's impostor statistics measured on LFW are used (dlib: mean 0.836,
std 0.034; the same for every relative, so it only rescales raw similarity); packs without
such statistics need a reference set. No face data ships with faceprint.

Verdict: the relative with the highest ``z`` when it beats the runner-up — and an unrelated face
(``z = 0``) — by at least ``margin`` standard deviations; otherwise undecided (``None``).

Identity embeddings are trained to tell people apart, not to model kinship: the scores say which
relative's face this model places closest to the child's, not who the child is related to;
age, pose, expression, lighting and image quality move them as much as resemblance does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult, computed
from faceprint.errors import InvalidArgumentError
from faceprint.imageio import ImageInput, source_name
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import EmbeddingSpace, FaceAnalyzer, FaceChoice

__all__ = [
    "CAVEAT",
    "DEFAULT_MARGIN",
    "MIN_REFERENCE",
    "RelativeScore",
    "Resemblance",
    "resemble",
    "resemble_embeddings",
]

FloatArray = npt.NDArray[np.float32]

#: margin of the verdict, in standard deviations of the relative's impostor scores
DEFAULT_MARGIN = 1.0
#: fewest reference faces (after dropping look-alikes) accepted for a relative
MIN_REFERENCE = 20
CAVEAT = (
    "identity embeddings are trained to tell people apart, not to model kinship: this says which "
    "relative's face the model places closest to the child's, not who the child is related to; "
    "age, pose, expression and lighting move these scores as much as resemblance does"
)


@dataclass(frozen=True)
class RelativeScore(JsonResult):
    """One relative's calibrated similarity to the child.

    Attributes:
        name: the relative's name (as given).
        source: the relative's image (path or name).
        similarity: cosine similarity of the two faces.
        z: ``(similarity - impostor mean) / impostor std`` for this relative.
        percentile: share (0-100) of unrelated faces less similar to this relative than the
            child is (from the reference set, or the normal model of the pack's statistics).
        impostor_mean / impostor_std: the relative's impostor distribution.
        reference_faces: reference faces it rests on (0: the pack's statistics).
    """

    name: str
    source: str
    similarity: float
    z: float
    percentile: float
    impostor_mean: float
    impostor_std: float
    reference_faces: int


@dataclass(frozen=True)
class Resemblance(JsonResult):
    """Which relative the child resembles most (see the module docstring).

    Attributes:
        child: the child's image (path or name).
        relatives: one score per relative, highest ``z`` first.
        verdict: the name of the relative the child resembles most, or None (undecided).
        lead: ``z`` of the first minus that of the runner-up (or of an unrelated face, 0).
        margin: the lead needed for a verdict, in standard deviations.
        calibration: ``"reference"`` (per relative, from reference faces) or ``"pack"``.
        pack: the model pack.
        caveat: what these scores are not.
    """

    child: str
    relatives: tuple[RelativeScore, ...]
    verdict: str | None
    lead: float
    margin: float
    calibration: str
    pack: str
    caveat: str = CAVEAT

    json_computed = (computed("decided"),)
    json_order = (
        "child", "verdict", "decided", "lead", "margin", "calibration", "pack", "relatives",
        "caveat",
    )  # fmt: skip

    @property
    def decided(self) -> bool:
        return self.verdict is not None


def _pack_stats(space: EmbeddingSpace) -> tuple[float, float]:
    """The impostor mean and standard deviation measured on LFW in ``space``."""
    stats = space.scores
    if stats is None:
        raise InvalidArgumentError(
            f"pack {space.pack!r} has no impostor statistics: pass reference faces of unrelated "
            f"people (reference= / --reference DIR, {MIN_REFERENCE}+ faces)"
        )
    return stats.impostor_mean, stats.impostor_std


def _normal_cdf(z: float) -> float:
    from math import erf, sqrt

    return 0.5 * (1.0 + erf(z / sqrt(2.0)))


def _unit(v: npt.ArrayLike, what: str) -> FloatArray:
    a = np.asarray(v, dtype=np.float32)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        raise InvalidArgumentError(f"{what} must be a finite 1-D embedding, got shape {a.shape}")
    norm = float(np.linalg.norm(a))
    if abs(norm - 1.0) > 2e-2:
        raise InvalidArgumentError(f"{what} must be L2-normalised (norm {norm:.3f})")
    return a


def _score(
    name: str,
    source: str,
    child: FloatArray,
    relative: FloatArray,
    reference: FloatArray | None,
    space: EmbeddingSpace,
    same_person: float,
) -> RelativeScore:
    s = float(child @ relative)
    if reference is None:
        mean, std = _pack_stats(space)
        z = (s - mean) / std
        return RelativeScore(name, source, s, z, 100 * _normal_cdf(z), mean, std, 0)
    imp = reference @ relative
    imp = imp[imp < same_person]
    if len(imp) < MIN_REFERENCE:
        raise InvalidArgumentError(
            f"only {len(imp)} reference faces unlike {name!r} (need {MIN_REFERENCE}); "
            "pass more faces of unrelated people"
        )
    mean, std = float(imp.mean()), float(max(imp.std(), 1e-6))
    pct = 100 * float((imp < s).mean() + 0.5 * (imp == s).mean())
    return RelativeScore(name, source, s, (s - mean) / std, pct, mean, std, len(imp))


def resemble_embeddings(
    child: npt.ArrayLike,
    relatives: Mapping[str, npt.ArrayLike],
    *,
    reference: npt.ArrayLike | None = None,
    margin: float = DEFAULT_MARGIN,
    pack: str = DEFAULT_PACK,
    child_source: str = "",
    sources: Mapping[str, str] | None = None,
) -> Resemblance:
    """:func:`resemble` on embeddings (unit vectors of ``pack``).

    Raises:
        InvalidArgumentError: no relative, malformed embeddings, a negative margin, too few
            reference faces, or no reference and a pack without impostor statistics.
    """
    if not relatives:
        raise InvalidArgumentError("give at least one relative")
    if not margin >= 0:
        raise InvalidArgumentError(f"margin must be >= 0, got {margin}")
    c = _unit(child, "the child's embedding")
    ref = None
    if reference is not None:
        ref = np.asarray(reference, dtype=np.float32)
        if ref.ndim != 2 or ref.shape[1] != len(c):
            raise InvalidArgumentError(f"reference must be (M, {len(c)}), got {ref.shape}")
    space = EmbeddingSpace(pack)  # the statistics are of plain embeddings, like this threshold
    same = space.threshold
    scores = sorted(
        (
            _score(
                name,
                (sources or {}).get(name, name),
                c,
                _unit(e, f"{name!r}'s embedding"),
                ref,
                space,
                same,
            )
            for name, e in relatives.items()
        ),
        key=lambda r: -r.z,
    )
    runner_up = max(scores[1].z if len(scores) > 1 else 0.0, 0.0)
    lead = scores[0].z - runner_up
    return Resemblance(
        child=child_source,
        relatives=tuple(scores),
        verdict=scores[0].name if lead >= margin else None,
        lead=lead,
        margin=float(margin),
        calibration="pack" if ref is None else "reference",
        pack=pack,
    )


def resemble(
    analyzer: FaceAnalyzer,
    child: ImageInput,
    relatives: Mapping[str, ImageInput],
    *,
    margin: float = DEFAULT_MARGIN,
    reference: npt.ArrayLike | None = None,
    face: FaceChoice = "largest",
) -> Resemblance:
    """Which of ``relatives`` (name -> image) the face in ``child`` resembles most.

    Args:
        analyzer: the analyzer whose pack embeds every face.
        child / relatives: images (paths, bytes or arrays); ``face`` picks the face of each.
        margin: lead in standard deviations needed for a verdict (else undecided).
        reference: ``(M, D)`` embeddings of unrelated people's faces (same pack) to calibrate
            each relative; ``None``: the pack's LFW impostor statistics.

    Raises:
        NoFaceError / ImageError: an image without a usable face, or unreadable.
        InvalidArgumentError: see :func:`resemble_embeddings`.
    """
    c = analyzer.embed_one(child, face=face).embedding
    embs = {name: analyzer.embed_one(img, face=face).embedding for name, img in relatives.items()}
    return resemble_embeddings(
        c,  # type: ignore[arg-type]
        embs,  # type: ignore[arg-type]
        reference=reference,
        margin=margin,
        pack=analyzer.pack.name,
        child_source=source_name(child),
        sources={name: source_name(img) for name, img in relatives.items()},
    )
