"""Unknown people of a video (``unknown_N``) kept so that they can be enrolled without a photo:
the best single face of a few of their tracks, with thumbnails and a source line per template.

Only faces of at least :data:`~faceprint.gallery.enroll.MIN_TEMPLATE_FACE` pixels become
templates, one face per track (not the mean of its frames), at most three that differ from each
other: a mean of frames, or a small face, matches strangers about three times as often as a
photo does (``benchmarks/bench_template_far.py``; ``docs/web-app-library.md``).

Used by the HTTP service's video jobs (``POST /v1/jobs/{id}/unknowns/{unknown}/enrol``); the
logic lives here, next to screen time, so that every caller enrols an unknown the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceprint.gallery import Gallery, Identity
from faceprint.gallery.enroll import MIN_TEMPLATE_FACE
from faceprint.library.labels import representatives
from faceprint.video.types import Track

__all__ = ["MAX_UNKNOWN_TEMPLATES", "UnknownFaces", "enrol_unknown", "unknown_faces"]

#: templates enrolled from one unknown_N at most (as many as a few enrolment photos give)
MAX_UNKNOWN_TEMPLATES = 3


@dataclass(frozen=True, eq=False)
class UnknownFaces:
    """What a video job keeps of one ``unknown_N`` so that it can be enrolled without a photo:
    the best face of a few of its tracks, with their thumbnails."""

    embeddings: npt.NDArray[np.float32]
    thumbnails: list[bytes | None]
    sources: list[str]


def unknown_faces(video: str, name: str, tracks: Sequence[Track]) -> UnknownFaces | None:
    """The enrolable faces of ``name`` (``None`` when there is none): the best face of each
    track that reaches :data:`~faceprint.gallery.enroll.MIN_TEMPLATE_FACE` pixels, at most
    :data:`MAX_UNKNOWN_TEMPLATES` that differ from each other."""
    usable = [
        t for t in tracks if t.best_embedding is not None and t.best_side >= MIN_TEMPLATE_FACE
    ]
    if not usable:
        return None
    vecs = np.stack([t.best_embedding for t in usable]).astype(np.float32)  # type: ignore[misc]
    sides = np.asarray([t.best_side for t in usable], np.float32)
    picks = representatives(vecs, sides, MAX_UNKNOWN_TEMPLATES)
    chosen = [usable[i] for i in picks]
    return UnknownFaces(
        vecs[picks],
        [t.thumbnail for t in chosen],
        [f"{video} ({name}, track {t.id}, {t.start:.2f}-{t.end:.2f} s)" for t in chosen],
    )


def enrol_unknown(
    gallery: Gallery, name: str, faces: UnknownFaces, *, append: bool = False
) -> Identity:
    """Add ``faces`` as templates of a new person ``name``, or with ``append`` of the enrolled
    person of that name; returns the person.

    Raises:
        IdentityExistsError: ``name`` is enrolled and ``append`` is false.
        IdentityNotFoundError: ``append`` and nobody has that name.
    """
    if append:
        gallery.get(name)
    gallery.add_embeddings(
        [name] * len(faces.embeddings),
        faces.embeddings,
        sources=faces.sources,
        thumbnails=faces.thumbnails,
        append=append,
    )
    return gallery.get(name)
