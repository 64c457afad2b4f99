"""Detectors: an RGB image in, faces with boxes, scores and five landmarks out.

The interface is :class:`~faceprint.detect.base.Detector`; backends are created through model
packs (:meth:`faceprint.packs.PackSpec.create_detector`), one module per backend.
"""

from faceprint.detect.base import Detector

__all__ = ["Detector"]
