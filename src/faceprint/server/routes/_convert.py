"""Library results → response dataclasses (the JSON boundary)."""

from __future__ import annotations

from faceprint.gallery import Match
from faceprint.server import schemas
from faceprint.types import Face


def box(face: Face) -> list[float]:
    """``[x1, y1, x2, y2]`` rounded to 0.01 px."""
    return [round(float(v), 2) for v in face.box]


def detected(face: Face, *, embedding: bool = False) -> Face:
    """The face as a response shows it: box, score, landmarks (and the embedding when asked);
    ids that only mean something inside a batch or a video are left out."""
    return Face(face.box, face.score, face.landmarks, face.embedding if embedding else None)


def thumbnail_url(template_id: int | None) -> str | None:
    return None if template_id is None else f"/v1/thumbnails/{int(template_id)}"


def match_out(match: Match) -> schemas.MatchOut:
    return schemas.MatchOut(
        person_id=match.identity_id,
        name=match.name,
        similarity=round(float(match.similarity), 6),
        thumbnail_url=thumbnail_url(match.template_id),
    )
