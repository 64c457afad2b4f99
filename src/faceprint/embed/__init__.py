"""Embedders: aligned face crops in, L2-normalised embeddings out.

The interface is :class:`~faceprint.embed.base.Embedder`; backends are created through model
packs (:meth:`faceprint.packs.PackSpec.create_embedder`), one module per backend.
"""

from faceprint.embed.base import Embedder, l2_normalize

__all__ = ["Embedder", "l2_normalize"]
