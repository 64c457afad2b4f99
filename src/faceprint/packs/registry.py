"""Named model packs: which detector, landmarks, embedder and threshold belong together.

A pack is a :class:`PackSpec` record. Built-in packs are registered here; later sources (pack
manifests, insightface-style folders) produce the same record. Backends are named by string and
created through :data:`DETECTOR_FACTORIES` / :data:`EMBEDDER_FACTORIES`, imported lazily so
that importing faceprint loads no model and no heavy library.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from faceprint.align import DLIB_150, CropSpec
from faceprint.errors import ModelError

if TYPE_CHECKING:
    from faceprint.detect.base import Detector
    from faceprint.embed.base import Embedder

__all__ = [
    "DEFAULT_PACK",
    "PackSpec",
    "dlib_model_path",
    "get_pack",
    "list_packs",
    "register_pack",
    "sha256_file",
]

DEFAULT_PACK = "dlib"

#: backend name → "module:callable"; the callable takes (pack, **options) and returns the object
DETECTOR_FACTORIES: dict[str, str] = {
    "dlib-hog": "faceprint.detect.dlib_detectors:create_hog",
    "dlib-cnn": "faceprint.detect.dlib_detectors:create_cnn",
    "scrfd": "faceprint.detect.scrfd:create",
    "retinaface": "faceprint.detect.retinaface:create",
    "yunet": "faceprint.detect.yunet:create",
}
EMBEDDER_FACTORIES: dict[str, str] = {
    "dlib-resnet": "faceprint.embed.dlib_resnet:create",
    "dlib-onnx": "faceprint.embed.dlib_onnx:create",
    "arcface-onnx": "faceprint.embed.arcface_onnx:create",
}

DLIB_LICENCE = (
    "CC0 (dlib models shipped by face-recognition-models); the 68-point landmark model was "
    "trained on iBUG 300-W, whose images are licensed for research use"
)


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


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def dlib_model_path(filename: str) -> Path:
    """Path of one of dlib's model files shipped by ``face-recognition-models``.

    Located without importing that package (its ``__init__`` needs ``pkg_resources``).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the default models are missing: pip install face-recognition-models "
            "(or reinstall faceprint)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / filename
    if not path.is_file():
        raise ModelError(f"dlib model file not found: {path} (reinstall face-recognition-models)")
    return path


def _dlib_files() -> dict[str, Path]:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return {}
    base = Path(next(iter(spec.submodule_search_locations))) / "models"
    return {
        "landmarks": base / "shape_predictor_68_face_landmarks.dat",
        "embedder": base / "dlib_face_recognition_resnet_model_v1.dat",
        "cnn_detector": base / "mmod_human_face_detector.dat",
    }


_REGISTRY: dict[str, Callable[[], PackSpec]] = {}


def register_pack(name: str, make: Callable[[], PackSpec]) -> None:
    """Register a pack under ``name``; ``make`` builds its spec when it is asked for."""
    _REGISTRY[name] = make


def list_packs() -> list[str]:
    """Names of the registered packs and of the pack folders in ``$FACEPRINT_HOME/packs``."""
    from faceprint.packs.manifest import home_pack_names

    return sorted({*_REGISTRY, *home_pack_names()})


def get_pack(name: str | PackSpec = DEFAULT_PACK) -> PackSpec:
    """The pack ``name``: a registered name, a folder in ``$FACEPRINT_HOME/packs``, or the path
    of a pack manifest or model folder (see :mod:`faceprint.packs.manifest`). A
    :class:`PackSpec` passes through.

    Raises:
        ModelError: unknown name (the message lists the known packs), or a broken pack file.
    """
    if isinstance(name, PackSpec):
        return name
    if name in _REGISTRY:
        return _REGISTRY[name]()
    from faceprint.packs.manifest import find_home_pack, load_pack_path

    if Path(name).expanduser().exists():
        return load_pack_path(name)
    if (home := find_home_pack(name)) is not None:
        return home
    raise ModelError(f"unknown model pack {name!r}; known packs: {', '.join(list_packs())}")


def _dlib_pack(name: str, embedder: str, description: str) -> Callable[[], PackSpec]:
    def make() -> PackSpec:
        return PackSpec(
            name=name,
            detector="dlib-hog",
            landmarks="dlib-68",
            embedder=embedder,
            dim=128,
            threshold=DLIB_THRESHOLD,
            threshold_source=DLIB_THRESHOLD_SOURCE,
            crop=DLIB_150,
            licence=DLIB_LICENCE,
            files=_dlib_files(),
            detector_options={"upsample": 1},
            description=description,
        )

    return make


#: cosine threshold of the dlib packs; see README "Thresholds" for how it was calibrated
DLIB_THRESHOLD = 0.9049
DLIB_THRESHOLD_SOURCE = (
    "best-accuracy cosine threshold on LFW View 1 pairsDevTrain (98.91%); 98.60% on pairsDevTest, "
    "98.92% on View 2 (10-fold with per-fold thresholds: 99.03%); faceprint evaluate lfw"
)

register_pack(
    "dlib",
    _dlib_pack(
        "dlib", "dlib-onnx", "dlib HOG + 68-point landmarks + dlib ResNet in onnxruntime (128-d)"
    ),
)
register_pack(
    "dlib-reference",
    _dlib_pack(
        "dlib-reference", "dlib-resnet", "the dlib pack computed by dlib-bin itself (reference)"
    ),
)


# built-in ONNX packs (files provided by the user); imported last, it registers through this module
from faceprint.packs import builtin as _builtin  # noqa: E402,F401
