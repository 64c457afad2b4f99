"""faceprint: offline-first face recognition.

Image → faces (box, score, five landmarks) → aligned crops → L2-normalised embeddings →
verification, identification and search. Importing faceprint loads no model.

>>> from faceprint import FaceAnalyzer
>>> fa = FaceAnalyzer()                                  # doctest: +SKIP
>>> fa.verify("obama.jpg", "obama2.jpg").same            # doctest: +SKIP
True
"""

from faceprint.align import CropSpec, align_faces
from faceprint.batch import AnalyzerPool, Engine, ImageResult, analyze_iter
from faceprint.compare import cosine_similarity, similarity_matrix, verify_embeddings
from faceprint.errors import (
    AmbiguousFaceError,
    FaceprintError,
    GalleryError,
    ImageError,
    InvalidArgumentError,
    ModelError,
    NoFaceError,
)
from faceprint.imageio import load_image
from faceprint.packs import DEFAULT_PACK, PackSpec, get_pack, list_packs
from faceprint.pipeline import FaceAnalyzer, FaceChoice
from faceprint.types import Face, Faces, Verification

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PACK",
    "AmbiguousFaceError",
    "AnalyzerPool",
    "CropSpec",
    "Engine",
    "Face",
    "FaceAnalyzer",
    "FaceChoice",
    "FaceprintError",
    "Faces",
    "GalleryError",
    "ImageError",
    "ImageResult",
    "InvalidArgumentError",
    "ModelError",
    "NoFaceError",
    "PackSpec",
    "Verification",
    "__version__",
    "align_faces",
    "analyze_iter",
    "cosine_similarity",
    "get_pack",
    "list_packs",
    "load_image",
    "similarity_matrix",
    "verify_embeddings",
]
