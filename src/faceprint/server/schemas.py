"""Response models of the HTTP API: the library's result types at the JSON boundary.

Boxes are ``[x1, y1, x2, y2]`` in pixels of the uploaded (EXIF-rotated) image; landmarks five
``[x, y]`` points in the same pixels; similarities cosine in [-1, 1].
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "ClusterOut",
    "ClustersOut",
    "DetectOut",
    "EmbedFace",
    "EmbedOut",
    "EnrollOut",
    "ErrorBody",
    "ErrorOut",
    "FaceOut",
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


class HealthOut(BaseModel):
    status: str
    version: str
    pack: str
    people: int


class ModelsOut(BaseModel):
    pack: str
    dim: int
    threshold: float
    threshold_source: str
    licence: str
    detector: str
    embedder: str


class FaceOut(BaseModel):
    box: Box
    score: float
    landmarks: list[list[float]]


class DetectOut(BaseModel):
    width: int
    height: int
    faces: list[FaceOut]


class EmbedFace(FaceOut):
    embedding: list[float] = Field(description="unit-length embedding (biometric data)")


class EmbedOut(BaseModel):
    width: int
    height: int
    faces: list[EmbedFace]


class VerifyFace(BaseModel):
    box: Box


class VerifyOut(BaseModel):
    similarity: float
    threshold: float
    threshold_source: str
    same: bool
    pack: str
    face_a: VerifyFace
    face_b: VerifyFace | None = Field(description="null when compared with an enrolled person")


class MatchOut(BaseModel):
    person_id: int = Field(description="the person's id (GET /v1/people/{person_id})")
    name: str
    similarity: float
    thumbnail_url: str | None


class IdentifiedOut(BaseModel):
    box: Box
    label: str = Field(description="the name, or 'unknown' below the threshold")
    similarity: float | None = Field(description="best similarity (null: empty gallery)")
    person_id: int | None = Field(description="the named person's id (null when unknown)")
    matches: list[MatchOut]


class IdentifyOut(BaseModel):
    width: int
    height: int
    threshold: float
    faces: list[IdentifiedOut]


class SearchMatch(MatchOut):
    above_threshold: bool


class SearchFace(BaseModel):
    box: Box
    matches: list[SearchMatch]


class SearchOut(BaseModel):
    width: int
    height: int
    threshold: float
    faces: list[SearchFace]


class PersonSummary(BaseModel):
    id: int = Field(description="stable id: address the person by it (names are data)")
    name: str
    templates: int
    thumbnail_url: str | None
    created_at: str


class PeopleOut(BaseModel):
    people: list[PersonSummary] = Field(description="one page, sorted by name")
    total: int = Field(description="how many people match the query in all")
    offset: int = Field(description="the index of this page's first person among the matches")
    limit: int = Field(description="the page size asked for")


class Skipped(BaseModel):
    file: str
    reason: str


class EnrollOut(BaseModel):
    id: int = Field(description="the person's id")
    name: str
    templates: int
    added: int
    skipped: list[Skipped]


class TemplatesOut(BaseModel):
    added: int
    skipped: list[Skipped]


class TemplateOut(BaseModel):
    id: int
    source: str
    thumbnail_url: str | None


class PersonOut(BaseModel):
    id: int = Field(description="the person's id")
    name: str
    metadata: dict[str, Any]
    created_at: str
    templates: list[TemplateOut]


class EnrolUnknownIn(BaseModel):
    name: str = Field(min_length=1, max_length=1024, description="the person's name")
    append: bool = Field(default=False, description="add to a person who is enrolled already")


class RenameIn(BaseModel):
    name: str = Field(min_length=1, max_length=1024, description="the new name (any script)")


class ImportOut(BaseModel):
    imported: int


class JobOut(BaseModel):
    id: str
    kind: str
    status: str = Field(description="queued, running, done, failed or cancelled")
    progress: float = Field(description="0..1")
    error: str | None
    result: Any = None
    created_at: str


class JobsOut(BaseModel):
    jobs: list[JobOut]


class RelativeOut(BaseModel):
    name: str
    similarity: float
    z: float = Field(description="standard deviations above an unrelated face, for this relative")
    percentile: float = Field(description="share of unrelated faces less similar to this relative")


class ResembleOut(BaseModel):
    verdict: str = Field(description="the relative resembled most, or 'undecided'")
    lead: float
    margin: float
    calibration: str
    relatives: list[RelativeOut]
    caveat: str


# --- photo library and videos ------------------------------------------------------------------
class LibraryFaceOut(BaseModel):
    id: int
    box: Box
    name: str | None
    cluster: int | None
    quality: float
    thumbnail_url: str


class ClusterOut(BaseModel):
    id: int
    size: int
    name: str | None
    sheet_url: str
    faces: list[LibraryFaceOut] = Field(description="the best faces (at most 12)")


class MergeOut(ClusterOut):
    moved: list[int] = Field(description="the faces that joined (POST /v1/library/split undoes)")


class ClustersOut(BaseModel):
    clusters: list[ClusterOut]
    unclustered: int


class ScanState(BaseModel):
    job: str | None
    running: bool
    status: str | None
    done: int
    total: int | None
    errors: int


class LibraryStatusOut(BaseModel):
    root: str | None
    photos: int
    faces: int
    clusters: int
    named: int
    people: list[str]
    unclustered: int
    scan: ScanState


class ScanOut(BaseModel):
    job: str


class RejectOut(BaseModel):
    face: int


class PhotoOut(BaseModel):
    id: int
    path: str = Field(description="relative to the library's photo tree")
    taken: str | None
    width: int
    height: int
    url: str
    faces: list[LibraryFaceOut]


class PhotosOut(BaseModel):
    photos: list[PhotoOut]


class VideoJobOut(BaseModel):
    job: JobOut


class VideoRangeOut(BaseModel):
    job: str = Field(description="the video job whose upload this range is in")
    video: str = Field(description="the uploaded file's name")
    start: float
    end: float
    names: list[str]


class VideoRangesOut(BaseModel):
    ranges: list[VideoRangeOut]
