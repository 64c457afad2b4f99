"""Library results → response models (the JSON boundary)."""

from __future__ import annotations

from faceprint.gallery import Match
from faceprint.server import schemas
from faceprint.types import Face


def box(face: Face) -> list[float]:
    """``[x1, y1, x2, y2]`` rounded to 0.01 px."""
    return [round(float(v), 2) for v in face.box]


def face_out(face: Face) -> schemas.FaceOut:
    return schemas.FaceOut(
        box=box(face),
        score=round(float(face.score), 4),
        landmarks=[[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks],
    )


def embed_face(face: Face) -> schemas.EmbedFace:
    embedding = [] if face.embedding is None else [float(v) for v in face.embedding]
    return schemas.EmbedFace(**face_out(face).model_dump(), embedding=embedding)


def thumbnail_url(template_id: int | None) -> str | None:
    return None if template_id is None else f"/v1/thumbnails/{int(template_id)}"


def match_out(match: Match) -> schemas.MatchOut:
    return schemas.MatchOut(
        person_id=match.identity_id,
        name=match.name,
        similarity=round(float(match.similarity), 6),
        thumbnail_url=thumbnail_url(match.template_id),
    )
