"""Cosine similarity of unit embeddings, and 1:1 verification."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceprint.errors import InvalidArgumentError
from faceprint.types import Verification

__all__ = ["check_threshold", "cosine_similarity", "similarity_matrix", "verify_embeddings"]


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float if it is a cosine similarity threshold: finite, in [-1, 1].

    Raises:
        InvalidArgumentError: NaN, infinite or out of range (``-5`` would call everyone the
            same person).
    """
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"a threshold must be a number, got {threshold!r}") from None
    if not -1.0 <= value <= 1.0:  # also refuses NaN
        raise InvalidArgumentError(
            f"a cosine threshold must be between -1 and 1, got {threshold!r}"
        )
    return value


def _unit(x: npt.ArrayLike, name: str) -> npt.NDArray[np.float32]:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise InvalidArgumentError(
            f"{name} must be a (D,) vector or an (N, D) matrix, got shape {arr.shape}"
        )
    norm = np.linalg.norm(arr, axis=-1, keepdims=True)
    return arr / np.maximum(norm, 1e-12)


def similarity_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """(N, M) cosine similarities of the rows of ``a`` (N, D) and ``b`` (M, D); one BLAS call."""
    ua, ub = _unit(a, "a"), _unit(b, "b")
    ua, ub = np.atleast_2d(ua), np.atleast_2d(ub)
    if ua.shape[1] != ub.shape[1]:
        raise InvalidArgumentError(f"embedding sizes differ: {ua.shape[1]} and {ub.shape[1]}")
    return np.asarray(ua @ ub.T, dtype=np.float32)


def cosine_similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> float | npt.NDArray[np.float32]:
    """Cosine similarity: one pair → float, one-to-many → (M,), many-to-many → (N, M).

    Inputs need not be normalised; embeddings from faceprint already are, for which this is the
    dot product.
    """
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    sims = similarity_matrix(a_arr, b_arr)
    if a_arr.ndim == 1 and b_arr.ndim == 1:
        return float(sims[0, 0])
    if a_arr.ndim == 1:
        return sims[0]
    if b_arr.ndim == 1:
        return sims[:, 0]
    return sims


def verify_embeddings(
    a: npt.ArrayLike, b: npt.ArrayLike, *, threshold: float, pack: str = ""
) -> Verification:
    """Same person when the cosine similarity of two embeddings reaches ``threshold``."""
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.ndim != 1 or b_arr.ndim != 1:
        raise InvalidArgumentError(
            f"verify needs two (D,) embeddings, got {a_arr.shape} and {b_arr.shape}"
        )
    threshold = check_threshold(threshold)
    sim = float(cosine_similarity(a_arr, b_arr))
    return Verification(
        similarity=sim, threshold=float(threshold), same=sim >= threshold, pack=pack
    )
