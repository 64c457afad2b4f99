"""The record of a model pack (:class:`PackSpec`) and the backend factories it creates.

A leaf of the ``packs`` package: the registry, the manifest loader and the backends all import
it, and it imports none of them (backends are named by string and imported on demand).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from faceprint._hashing import sha256_file
from faceprint.align import CropSpec
from faceprint.errors import ModelError

if TYPE_CHECKING:
    from faceprint.detect.base import Detector
    from faceprint.embed.base import Embedder
    from faceprint.packs.scores import ScoreDistribution

__all__ = ["DETECTOR_FACTORIES", "EMBEDDER_FACTORIES", "PackSpec"]

#: backend name → "module:callable"; the callable takes (pack, **options) and returns the object
DETECTOR_FACTORIES: dict[str, str] = {
    "dlib-hog": "faceprint.detect.dlib_detectors:create_hog",
    "dlib-cnn": "faceprint.detect.dlib_detectors:create_cnn",
    "scrfd": "faceprint.detect.scrfd:create",
    "retinaface": "faceprint.detect.retinaface:create",
    "yunet": "faceprint.detect.yunet:create",
    "blazeface": "faceprint.detect.blazeface:create",
}
EMBEDDER_FACTORIES: dict[str, str] = {
    "dlib-resnet": "faceprint.embed.dlib_resnet:create",
    "dlib-onnx": "faceprint.embed.dlib_onnx:create",
    "arcface-onnx": "faceprint.embed.arcface_onnx:create",
}


@dataclass(frozen=True)
class PackSpec:
    """Everything that defines a model pack.

    Attributes:
        name: registry name, or the path the pack was loaded from.
        detector: detector backend name (a key of ``DETECTOR_FACTORIES``).
        embedder: embedder backend name (a key of ``EMBEDDER_FACTORIES``).
        dim: embedding size.
        metric: similarity the threshold applies to (always cosine of unit vectors).
        threshold: calibrated default decision threshold on cosine similarity.
        crop: the aligned crop the embedder expects.
        licence: licence terms of the model files, shown wherever the threshold is shown.
        files: model files by role (``"detector"``, ``"landmarks"``, ``"embedder"``, ...).
        sha256: expected checksums by role (verified on :meth:`verify_files`).
        landmarks: landmark stage, e.g. ``"dlib-68"``; empty when the detector gives them.
        detector_options / embedder_options: keyword defaults for the backends.
        description: one line for ``faceprint models list``.
        threshold_source: how the threshold was obtained.
        augment_thresholds: thresholds calibrated for test-time augmented embeddings
            (``{"flip": (threshold, source)}``); an augmentation without one uses ``threshold``.
        cluster_thresholds: cosine thresholds of the default clustering method by test-time
            augmentation (``{"none": 0.937}``); an augmentation without one clusters at its
            verification threshold.
        scores: genuine and impostor cosine statistics measured on LFW (plain embeddings),
            or ``None`` when not measured; family resemblance calibrates against them.
    """

    name: str
    detector: str
    embedder: str
    dim: int
    threshold: float
    crop: CropSpec
    licence: str
    files: Mapping[str, Path] = field(default_factory=dict)
    sha256: Mapping[str, str] = field(default_factory=dict)
    landmarks: str = ""
    metric: Literal["cosine"] = "cosine"
    detector_options: Mapping[str, Any] = field(default_factory=dict)
    embedder_options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    threshold_source: str = ""
    augment_thresholds: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    cluster_thresholds: Mapping[str, float] = field(default_factory=dict)
    scores: ScoreDistribution | None = None

    def threshold_for(self, augment: str = "none") -> float:
        """The calibrated threshold of embeddings made with ``augment``."""
        found = self.augment_thresholds.get(augment)
        return self.threshold if found is None else float(found[0])

    def threshold_source_for(self, augment: str = "none") -> str:
        """How :meth:`threshold_for` ``(augment)`` was obtained."""
        found = self.augment_thresholds.get(augment)
        return self.threshold_source if found is None else found[1]

    def cluster_threshold_for(self, augment: str = "none") -> float:
        """The default clustering method's threshold of embeddings made with ``augment``."""
        found = self.cluster_thresholds.get(augment)
        return self.threshold_for(augment) if found is None else float(found)

    def file(self, role: str) -> Path:
        """The model file for ``role``; a clear error when the pack has none or it is missing."""
        try:
            path = Path(self.files[role])
        except KeyError:
            raise ModelError(
                f"pack {self.name!r} has no {role!r} file (it has: {', '.join(self.files) or 'none'})"
            ) from None
        if not path.is_file():
            raise ModelError(f"pack {self.name!r}: {role} file not found: {path}")
        return path

    def verify_files(self) -> None:
        """Check every file exists and matches its declared sha256; raise :class:`ModelError`."""
        for role in self.files:
            path = self.file(role)
            want = self.sha256.get(role)
            if want and sha256_file(path) != want.lower():
                raise ModelError(
                    f"pack {self.name!r}: {role} file {path} does not match its sha256 {want}"
                )

    def create_detector(self, **options: Any) -> Detector:
        """A new detector for this pack (options override the pack's defaults)."""
        return _create(
            DETECTOR_FACTORIES, self.detector, self, {**self.detector_options, **options}
        )

    def create_embedder(self, **options: Any) -> Embedder:
        """A new embedder for this pack (options override the pack's defaults)."""
        return _create(
            EMBEDDER_FACTORIES, self.embedder, self, {**self.embedder_options, **options}
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (files with checksums as declared)."""
        return {
            "name": self.name,
            "description": self.description,
            "detector": self.detector,
            "landmarks": self.landmarks,
            "embedder": self.embedder,
            "dim": self.dim,
            "metric": self.metric,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "augment_thresholds": {k: v[0] for k, v in self.augment_thresholds.items()},
            "cluster_thresholds": dict(self.cluster_thresholds),
            "scores": None if self.scores is None else asdict(self.scores),
            "crop": self.crop.size,
            "licence": self.licence,
            "files": {role: str(p) for role, p in self.files.items()},
            "sha256": dict(self.sha256),
        }


def _create(table: Mapping[str, str], backend: str, pack: PackSpec, options: dict[str, Any]) -> Any:
    try:
        target = table[backend]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ModelError(
            f"unknown backend {backend!r} in pack {pack.name!r}; known: {known}"
        ) from None
    module_name, func = target.split(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module_name), func)
    return factory(pack, **options)
