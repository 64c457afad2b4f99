"""Responses of the HTTP API: result dataclasses at the JSON boundary.

Every response is a frozen dataclass (or holds the library's own result types, such as
:class:`~faceprint.types.Face`); a route returns one, :func:`faceprint._json.to_json` writes its
body and :func:`faceprint._json.json_model` derives its schema (``docs/openapi.json``), so each
result has one shape (see :class:`faceprint.server.routes.JsonRoute`). Request bodies and the
error envelope are pydantic models.

Boxes are ``[x1, y1, x2, y2]`` in pixels of the uploaded (EXIF-rotated) image; landmarks five
``[x, y]`` points in the same pixels; similarities cosine in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from faceprint._json import JsonResult, json_options
from faceprint.types import Face

__all__ = [
    "CardsPageOut",
    "ClusterCardOut",
    "ClusterFacesOut",
    "ClusterOut",
    "ClustersOut",
    "DetectOut",
    "EmbedOut",
    "EnrollOut",
    "ErrorBody",
    "ErrorOut",
    "FacesPageOut",
    "HealthOut",
    "IdentifiedOut",
    "IdentifyOut",
    "ImportOut",
    "JobOut",
    "JobsOut",
    "LibraryFaceOut",
    "LibraryStatusOut",
    "MatchOut",
    "ModelsOut",
    "PeopleOut",
    "PersonOut",
    "PersonSummary",
    "PhotoOut",
    "PhotosOut",
    "RejectOut",
    "RelativeOut",
    "RenameIn",
    "ResembleOut",
    "ScanOut",
    "ScanState",
    "SearchFace",
    "SearchMatch",
    "SearchOut",
    "Skipped",
    "SuggestionOut",
    "SuggestionsOut",
    "TemplateOut",
    "TemplatesOut",
    "VerifyFace",
    "VerifyOut",
    "VideoJobOut",
    "VideoRangeOut",
    "VideoRangesOut",
]

Box = list[float]


class ErrorBody(BaseModel):
    code: str = Field(description="snake_case error code")
    message: str = Field(description="one line: what is wrong and how to fix it")


class ErrorOut(BaseModel):
    error: ErrorBody
    request_id: str


@dataclass(frozen=True)
class HealthOut(JsonResult):
    status: str
    version: str
    pack: str
    people: int


@dataclass(frozen=True)
class ModelsOut(JsonResult):
    pack: str
    dim: int
    threshold: float
    threshold_source: str
    licence: str
    detector: str
    embedder: str


@dataclass(frozen=True)
class DetectOut(JsonResult):
    width: int
    height: int
    faces: list[Face] = field(metadata=json_options(description="box, score, five landmarks"))


@dataclass(frozen=True)
class EmbedOut(JsonResult):
    width: int
    height: int
    faces: list[Face] = field(
        metadata=json_options(
            description="as detect, with the unit-length embedding (biometric data)"
        )
    )


@dataclass(frozen=True)
class VerifyFace(JsonResult):
    box: Box


@dataclass(frozen=True)
class VerifyOut(JsonResult):
    similarity: float
    threshold: float
    threshold_source: str
    same: bool
    pack: str
    face_a: VerifyFace
    face_b: VerifyFace | None = field(
        metadata=json_options(description="null when compared with an enrolled person")
    )


@dataclass(frozen=True)
class MatchOut(JsonResult):
    person_id: int = field(
        metadata=json_options(description="the person's id (GET /v1/people/{person_id})")
    )
    name: str
    similarity: float
    thumbnail_url: str | None


@dataclass(frozen=True)
class IdentifiedOut(JsonResult):
    box: Box
    label: str = field(
        metadata=json_options(description="the name, or 'unknown' below the threshold")
    )
    similarity: float | None = field(
        metadata=json_options(description="best similarity (null: empty gallery)")
    )
    person_id: int | None = field(
        metadata=json_options(description="the named person's id (null when unknown)")
    )
    matches: list[MatchOut]


@dataclass(frozen=True)
class IdentifyOut(JsonResult):
    width: int
    height: int
    threshold: float
    faces: list[IdentifiedOut]


@dataclass(frozen=True)
class SearchMatch(MatchOut):
    above_threshold: bool


@dataclass(frozen=True)
class SearchFace(JsonResult):
    box: Box
    matches: list[SearchMatch]


@dataclass(frozen=True)
class SearchOut(JsonResult):
    width: int
    height: int
    threshold: float
    faces: list[SearchFace]


@dataclass(frozen=True)
class PersonSummary(JsonResult):
    id: int = field(
        metadata=json_options(description="stable id: address the person by it (names are data)")
    )
    name: str
    templates: int
    thumbnail_url: str | None
    created_at: str


@dataclass(frozen=True)
class PeopleOut(JsonResult):
    people: list[PersonSummary] = field(
        metadata=json_options(description="one page, sorted by name")
    )
    total: int = field(metadata=json_options(description="how many people match the query in all"))
    offset: int = field(
        metadata=json_options(description="the index of this page's first person among the matches")
    )
    limit: int = field(metadata=json_options(description="the page size asked for"))


@dataclass(frozen=True)
class Skipped(JsonResult):
    file: str
    reason: str


@dataclass(frozen=True)
class EnrollOut(JsonResult):
    id: int = field(metadata=json_options(description="the person's id"))
    name: str
    templates: int
    added: int
    skipped: list[Skipped]


@dataclass(frozen=True)
class TemplatesOut(JsonResult):
    added: int
    skipped: list[Skipped]


@dataclass(frozen=True)
class TemplateOut(JsonResult):
    id: int
    source: str
    thumbnail_url: str | None


@dataclass(frozen=True)
class PersonOut(JsonResult):
    id: int = field(metadata=json_options(description="the person's id"))
    name: str
    metadata: dict[str, Any]
    created_at: str
    templates: list[TemplateOut]


class EnrolUnknownIn(BaseModel):
    name: str = Field(min_length=1, max_length=1024, description="the person's name")
    append: bool = Field(default=False, description="add to a person who is enrolled already")


class RenameIn(BaseModel):
    name: str = Field(min_length=1, max_length=1024, description="the new name (any script)")


@dataclass(frozen=True)
class ImportOut(JsonResult):
    imported: int


@dataclass(frozen=True)
class JobOut(JsonResult):
    id: str
    kind: str
    status: str = field(
        metadata=json_options(description="queued, running, done, failed or cancelled")
    )
    progress: float = field(metadata=json_options(description="0..1"))
    error: str | None
    result: Any
    created_at: str


@dataclass(frozen=True)
class JobsOut(JsonResult):
    jobs: list[JobOut]


@dataclass(frozen=True)
class RelativeOut(JsonResult):
    name: str
    similarity: float
    z: float = field(
        metadata=json_options(
            description="standard deviations above an unrelated face, for this relative"
        )
    )
    percentile: float = field(
        metadata=json_options(description="share of unrelated faces less similar to this relative")
    )


@dataclass(frozen=True)
class ResembleOut(JsonResult):
    verdict: str = field(
        metadata=json_options(description="the relative resembled most, or 'undecided'")
    )
    lead: float
    margin: float
    calibration: str
    relatives: list[RelativeOut]
    caveat: str


# --- photo library and videos ------------------------------------------------------------------
@dataclass(frozen=True)
class LibraryFaceOut(JsonResult):
    id: int
    box: Box
    name: str | None
    cluster: int | None
    quality: float
    thumbnail_url: str


@dataclass(frozen=True)
class ClusterOut(JsonResult):
    id: int
    size: int
    name: str | None
    sheet_url: str
    faces: list[LibraryFaceOut] = field(
        metadata=json_options(description="the best faces (at most 12)")
    )


@dataclass(frozen=True)
class MergeOut(ClusterOut):
    moved: list[int] = field(
        metadata=json_options(description="the faces that joined (POST /v1/library/split undoes)")
    )


@dataclass(frozen=True)
class ClusterCardOut(JsonResult):
    """One cluster as the people page shows it: its size, name and best face."""

    id: int
    size: int
    name: str | None
    hidden: bool
    cover_url: str | None = field(metadata=json_options(description="the best face's thumbnail"))


@dataclass(frozen=True)
class SuggestionOut(ClusterCardOut):
    similarity: float = field(metadata=json_options(description="of the two mean faces"))


@dataclass(frozen=True)
class CardsPageOut(JsonResult):
    total: int
    offset: int
    clusters: list[ClusterCardOut]


@dataclass(frozen=True)
class ClusterFacesOut(JsonResult):
    cluster: ClusterCardOut
    offset: int
    faces: list[LibraryFaceOut]


@dataclass(frozen=True)
class SuggestionsOut(JsonResult):
    suggestions: list[SuggestionOut]


@dataclass(frozen=True)
class FacesPageOut(JsonResult):
    total: int
    offset: int
    faces: list[LibraryFaceOut]


@dataclass(frozen=True)
class ClustersOut(JsonResult):
    clusters: list[ClusterOut]
    unclustered: int


@dataclass(frozen=True)
class ScanState(JsonResult):
    job: str | None
    running: bool
    status: str | None
    done: int
    total: int | None
    errors: int


@dataclass(frozen=True)
class LibraryStatusOut(JsonResult):
    root: str | None
    photos: int
    faces: int
    clusters: int
    named: int
    people: list[str]
    unclustered: int
    scan: ScanState


@dataclass(frozen=True)
class ScanOut(JsonResult):
    job: str


@dataclass(frozen=True)
class RejectOut(JsonResult):
    face: int


@dataclass(frozen=True)
class PhotoOut(JsonResult):
    id: int
    path: str = field(metadata=json_options(description="relative to the library's photo tree"))
    taken: str | None
    width: int
    height: int
    url: str
    faces: list[LibraryFaceOut]


@dataclass(frozen=True)
class PhotosOut(JsonResult):
    photos: list[PhotoOut]


@dataclass(frozen=True)
class VideoJobOut(JsonResult):
    job: JobOut


@dataclass(frozen=True)
class VideoRangeOut(JsonResult):
    job: str = field(
        metadata=json_options(description="the video job whose upload this range is in")
    )
    video: str = field(metadata=json_options(description="the uploaded file's name"))
    start: float
    end: float
    names: list[str]


@dataclass(frozen=True)
class VideoRangesOut(JsonResult):
    ranges: list[VideoRangeOut]
