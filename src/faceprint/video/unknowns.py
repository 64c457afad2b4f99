"""Unknown people of a video (``unknown_N``) kept so that they can be enrolled without a photo:
the mean embeddings of their best tracks, with thumbnails and a source line per template.

Used by the HTTP service's video jobs (``POST /v1/jobs/{id}/unknowns/{unknown}/enrol``); the
logic lives here, next to screen time, so that every caller enrols an unknown the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceprint.gallery import Gallery, Identity
from faceprint.video.types import Track

__all__ = ["MAX_UNKNOWN_TEMPLATES", "UnknownFaces", "enrol_unknown", "unknown_faces"]

#: templates enrolled from one unknown_N: its tracks with the most embedded faces
MAX_UNKNOWN_TEMPLATES = 10


@dataclass(frozen=True, eq=False)
class UnknownFaces:
    """What a video job keeps of one ``unknown_N`` so that it can be enrolled without a photo:
    the mean embeddings of its best tracks, with their thumbnails."""

    embeddings: npt.NDArray[np.float32]
    thumbnails: list[bytes | None]
    sources: list[str]


def unknown_faces(video: str, name: str, tracks: Sequence[Track]) -> UnknownFaces | None:
    """The enrolable faces of ``name`` (``None`` when no track of it was embedded)."""
    usable = [t for t in tracks if t.embedding is not None]
    usable.sort(key=lambda t: (-t.faces_embedded, -t.detections, t.id))
    usable = usable[:MAX_UNKNOWN_TEMPLATES]
    if not usable:
        return None
    return UnknownFaces(
        np.stack([t.embedding for t in usable]).astype(np.float32),  # type: ignore[misc]
        [t.thumbnail for t in usable],
        [f"{video} ({name}, track {t.id}, {t.start:.2f}-{t.end:.2f} s)" for t in usable],
    )


def enrol_unknown(gallery: Gallery, name: str, faces: UnknownFaces) -> Identity:
    """Add ``faces`` as templates of ``name`` (a new person, or more templates of an enrolled
    one); returns the person."""
    gallery.add_embeddings(
        [name] * len(faces.embeddings),
        faces.embeddings,
        sources=faces.sources,
        thumbnails=faces.thumbnails,
        append=True,
    )
    return gallery.get(name)
