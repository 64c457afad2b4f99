"""Model packs: registry and records."""

from faceprint.packs import builtin as _builtin  # noqa: F401  (registers the built-in ONNX packs)
from faceprint.packs.registry import (
    DEFAULT_PACK,
    DETECTOR_PACKS,
    PackSpec,
    dlib_model_path,
    get_pack,
    list_packs,
    pack_for_detector,
    register_pack,
    sha256_file,
)

__all__ = [
    "DEFAULT_PACK",
    "DETECTOR_PACKS",
    "PackSpec",
    "dlib_model_path",
    "get_pack",
    "list_packs",
    "pack_for_detector",
    "register_pack",
    "sha256_file",
]
