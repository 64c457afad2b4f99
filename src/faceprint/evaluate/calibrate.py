"""A decision threshold for the user's own data: labelled folders in, threshold at a target FAR out.

``ROOT/<person>/<image>`` (one subfolder per person, as :func:`faceprint.gallery.scan_folders`
reads them). Each image gives one face (the largest by default); every pair of images is scored,
pairs of one person being genuine and pairs of two people impostors. The threshold is the lowest
one whose FAR on these impostor pairs does not exceed the target (exact counting, see
:mod:`faceprint.evaluate.metrics`); the FRR it gives is measured on the genuine pairs.

A FAR target ``f`` is only as good as the impostor pairs behind it: with ``n`` of them the
threshold rests on ``floor(f * n)`` false accepts. Below ``10 / f`` impostor pairs the result is
flagged (``supported=False``) and :attr:`CalibrationResult.warning` says what would be needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint._json import JsonResult, json_options
from faceprint.errors import EvaluationError, ImageError, InvalidArgumentError
from faceprint.evaluate.cache import EmbeddingCache
from faceprint.evaluate.extract import ExtractionConfig, ImageEmbeddings, Progress, embed_images
from faceprint.evaluate.metrics import MIN_FALSE_ACCEPTS, AllPairsResult, TarAtFar, all_pairs_scores

__all__ = ["CalibrationResult", "calibrate_embeddings", "calibrate_folders", "labelled_images"]


@dataclass(frozen=True)
class CalibrationResult(JsonResult):
    """The threshold for a target FAR on a labelled folder tree.

    Attributes:
        root: the folder tree.
        pack: model pack whose embeddings were scored.
        target_far: the FAR asked for.
        threshold: cosine threshold (accept when ``similarity >= threshold``).
        far / frr: the false accept and false reject rates it gives on these pairs.
        genuine_pairs / impostor_pairs: the pairs they rest on.
        identities: people (subfolders) with at least one usable image.
        images / images_used: images found / with a face.
        skipped: (file, reason) of the images without a usable face.
        supported: enough impostor pairs for the target (``>= 10 / target_far``).
        impostor_pairs_needed: ``ceil(10 / target_far)``.
        warning: what is wrong with the support, or ``""``.
        scores: the all-pairs scores.
        augment: test-time augmentation of the embeddings scored (the threshold belongs to
            that embedding space: pack and augmentation).
    """

    root: str
    pack: str
    target_far: float
    threshold: float
    far: float
    frr: float
    genuine_pairs: int
    impostor_pairs: int
    identities: int
    images: int
    images_used: int
    skipped: tuple[tuple[str, str], ...] = field(
        metadata=json_options(
            convert=lambda skipped: [{"file": f, "reason": r} for f, r in skipped],
            schema=list[dict[str, str]],
        )
    )
    supported: bool
    impostor_pairs_needed: int
    warning: str
    scores: AllPairsResult = field(metadata=json_options(json=False))
    augment: str = "none"

    json_order = (
        "root", "pack", "augment", "target_far", "threshold", "far", "frr", "genuine_pairs",
        "impostor_pairs", "identities", "images", "images_used", "skipped", "supported",
        "impostor_pairs_needed", "warning",
    )  # fmt: skip


def labelled_images(root: str | Path) -> tuple[list[str], list[str]]:
    """(image paths, person names) of a folder tree with one subfolder per person.

    Raises:
        EvaluationError: not a folder, or fewer than two people with images.
    """
    from faceprint.gallery.enroll import scan_folders

    try:
        pairs = scan_folders(root)
    except ImageError as exc:
        raise EvaluationError(str(exc)) from exc
    names = sorted({name for name, _ in pairs})
    if len(names) < 2:
        raise EvaluationError(
            f"{root}: calibration needs at least two people (one subfolder each), found {len(names)}"
        )
    return [str(p) for _, p in pairs], [name for name, _ in pairs]


def _warning(target_far: float, impostors: int) -> str:
    needed = math.ceil(MIN_FALSE_ACCEPTS / target_far)
    if impostors >= needed:
        return ""
    allowed = math.floor(target_far * impostors + 1e-9)
    return (
        f"only {impostors} impostor pairs: a FAR of {target_far:g} needs at least {needed} "
        f"for the threshold to rest on {MIN_FALSE_ACCEPTS} false accepts; this one allows "
        f"{allowed} and sits just above impostor score number {allowed + 1} from the top, so the "
        "true "
        "FAR may be much higher. Add people (impostor pairs grow with the square of the number "
        "of images) or choose a higher target FAR."
    )


def calibrate_embeddings(
    images: ImageEmbeddings,
    names: list[str],
    target_far: float,
    *,
    root: str = "",
    pack: str = "",
    augment: str = "none",
) -> CalibrationResult:
    """The calibration of :func:`calibrate_folders` from already computed embeddings."""
    has = images.has_face
    _, labels = np.unique(np.asarray(names), return_inverse=True)
    if len(np.unique(labels[has])) < 2:
        raise EvaluationError(f"{root}: fewer than two people have an image with a face")
    if np.bincount(labels[has]).max() < 2:
        raise EvaluationError(
            f"{root}: no genuine pairs: at least one person needs two images with a face"
        )
    scores = all_pairs_scores(images.embeddings, labels, (target_far,), valid=has)
    t: TarAtFar = scores.tar_at_far[0]
    skipped = tuple(
        (f, s.removeprefix("error: ") if s else "no face found")
        for f, s, ok in zip(images.files, images.sources, has, strict=True)
        if not ok
    )
    return CalibrationResult(
        root=root,
        pack=pack,
        target_far=target_far,
        threshold=t.threshold,
        far=t.far,
        frr=t.frr,
        genuine_pairs=t.genuine,
        impostor_pairs=t.impostors,
        identities=len(np.unique(labels[has])),
        images=len(images.files),
        images_used=int(has.sum()),
        skipped=skipped,
        supported=t.supported,
        impostor_pairs_needed=math.ceil(MIN_FALSE_ACCEPTS / target_far),
        warning=_warning(target_far, t.impostors),
        scores=scores,
        augment=augment,
    )


def calibrate_folders(
    root: str | Path,
    target_far: float = 1e-4,
    config: ExtractionConfig | None = None,
    *,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
) -> CalibrationResult:
    """The threshold meeting ``target_far`` on the labelled folder tree ``root``.

    Args:
        root: one subfolder per person.
        target_far: the false accept rate to meet, in (0, 1).
        config: pack and face choice (default: the default pack, the largest face, no fallback).
        cache: embedding cache (``None``: none).
        progress: progress wrapper.

    Raises:
        EvaluationError: fewer than two people, or no genuine pair.
    """
    if not 0 < target_far < 1:
        raise InvalidArgumentError(f"target FAR must be in (0, 1), got {target_far}")
    config = config or ExtractionConfig(face="largest")
    files, names = labelled_images(root)
    images = embed_images(files, config, cache=cache, progress=progress)
    return calibrate_embeddings(
        images,
        names,
        target_far,
        root=str(root),
        pack=config.pack_spec().name,
        augment=config.augment,
    )
