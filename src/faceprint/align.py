"""Alignment: five landmarks → similarity transform → canonical crop.

One function, :func:`align_faces`, serves every embedder: the embedder's :class:`CropSpec`
says how large its crop is and where the five landmarks should land in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.errors import ImageError, InvalidArgumentError, map_exceptions

__all__ = [
    "ALIGN_REVISION",
    "ARCFACE_112",
    "BICUBIC_FROM_SCALE",
    "DLIB_150",
    "CropSpec",
    "align_faces",
    "interpolation_for",
    "similarity_transform",
]

#: a face enlarged at least this many times into its crop (crop pixels per image pixel) is
#: interpolated bicubically, otherwise bilinearly: bilinear enlargement blurs small faces (LFW
#: at 150×150, faces of about 63 px enlarged about 2×), which put faceprint behind
#: face_recognition there; at normal sizes (about 1.2× for LFW at 250×250) bilinear was as good
#: (``benchmarks/bench_small_faces.py``; docs/benchmarks/images.md, "Small faces")
BICUBIC_FROM_SCALE = 1.5
#: changes whenever the crops :func:`align_faces` makes change (part of cache keys)
ALIGN_REVISION = 2


@dataclass(frozen=True)
class CropSpec:
    """An embedder's canonical crop.

    Attributes:
        size: side of the square crop in pixels.
        template: (5, 2) target positions of the five landmarks in crop pixels, in the order of
            :mod:`faceprint.types`.
    """

    size: int
    template: tuple[tuple[float, float], ...]

    def template_array(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.template, dtype=np.float64)


#: The standard ArcFace / insightface 112×112 five-point template.
ARCFACE_112 = CropSpec(
    112,
    (
        (38.2946, 51.6963),
        (73.5318, 51.5014),
        (56.0252, 71.7366),
        (41.5493, 92.3655),
        (70.7299, 92.2041),
    ),
)

#: dlib's 150×150 face chip (padding 0.25) as used by ``dlib_face_recognition_resnet_model_v1``:
#: where dlib's own chip geometry (``get_face_chip_details``, 68-point mean face) puts the eye
#: centres, nose tip and mouth corners; derived by ``benchmarks/derive_dlib_template.py``.
DLIB_150 = CropSpec(
    150,
    (
        (47.0076, 46.3248),
        (99.9643, 46.3713),
        (73.4983, 74.9669),
        (49.7696, 103.7950),
        (97.4803, 103.8594),
    ),
)


def similarity_transform(src: npt.ArrayLike, dst: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` to ``dst``.

    Umeyama's closed form. ``src`` and ``dst`` are (K, 2) point sets; returns the 2×3 matrix
    ``M`` with ``dst ≈ M @ [x, y, 1]``.
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    if s.shape != d.shape or s.ndim != 2 or s.shape[1] != 2 or len(s) < 2:
        raise InvalidArgumentError(f"need two (K>=2, 2) point sets, got {s.shape} and {d.shape}")
    mu_s, mu_d = s.mean(0), d.mean(0)
    sc, dc = s - mu_s, d - mu_d
    var_s = (sc**2).sum() / len(s)
    if var_s <= 0:
        raise InvalidArgumentError("source points are all identical")
    cov = dc.T @ sc / len(s)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = float((sig * np.diag(sign)).sum() / var_s)
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def interpolation_for(m: npt.NDArray[np.float64]) -> int:
    """OpenCV interpolation flag for warping with the 2×3 similarity ``m``: bicubic when it
    enlarges at least :data:`BICUBIC_FROM_SCALE` times, else bilinear."""
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    return cv2.INTER_CUBIC if scale >= BICUBIC_FROM_SCALE else cv2.INTER_LINEAR


def align_faces(
    image: npt.NDArray[np.uint8], landmarks: npt.ArrayLike, crop: CropSpec
) -> npt.NDArray[np.uint8]:
    """Aligned crops ``(N, S, S, 3)`` uint8 for faces with ``landmarks`` (N, 5, 2) in ``image``.

    Each face's five landmarks are mapped onto ``crop.template`` by a least-squares similarity
    transform; pixels come from bilinear interpolation (bicubic for faces enlarged at least
    :data:`BICUBIC_FROM_SCALE` times: see :func:`interpolation_for`), border replicated.
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    out = np.empty((len(pts), crop.size, crop.size, 3), np.uint8)
    dst = crop.template_array()
    for i, p in enumerate(pts):
        m = similarity_transform(p, dst)
        with map_exceptions({cv2.error: ImageError}, what="warp the face crop"):
            out[i] = cv2.warpAffine(
                image,
                m,
                (crop.size, crop.size),
                flags=interpolation_for(m),
                borderMode=cv2.BORDER_REPLICATE,
            )
    return out
