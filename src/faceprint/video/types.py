"""Result types of the video features: segments, tracks, per-person screen time.

Times are seconds on the video's timeline (from the start of the container, as a player shows
them); boxes are ``x1, y1, x2, y2`` in pixels of the upright frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult, computed, json_options
from faceprint.errors import FaceprintError
from faceprint.video.decode import VideoInfo

__all__ = [
    "PersonTime",
    "ScreenTime",
    "Segment",
    "Track",
    "TrackStatus",
    "VideoCancelledError",
    "merge_segments",
]

FloatArray = npt.NDArray[np.float32]

#: identified: matched an enrolled person; unknown: matched nobody (then named unknown_N);
#: too_short: too few detections to judge; poor: the faces were too small or too blurred to judge
TrackStatus = Literal["identified", "unknown", "too_short", "poor"]

#: the JSON of time ranges: ``[start, end]`` pairs in seconds, rounded to 1 ms
_SEGMENTS = list[list[float]]


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _segment_lists(segments: Sequence[Segment]) -> list[list[float]]:
    return [s.to_list() for s in segments]


class VideoCancelledError(FaceprintError):
    """The run was cancelled through its ``cancel`` event before it finished."""


@dataclass(frozen=True, order=True)
class Segment:
    """A time range ``[start, end)`` in seconds of the video."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return max(0.0, self.end - self.start)

    def to_list(self) -> list[float]:
        return [round(self.start, 3), round(self.end, 3)]


def merge_segments(segments: Iterable[Segment], gap: float = 0.0) -> tuple[Segment, ...]:
    """The union of ``segments``, sorted; ranges less than ``gap`` seconds apart are joined."""
    merged: list[Segment] = []
    for seg in sorted(segments):
        if merged and seg.start - merged[-1].end <= gap:
            last = merged[-1]
            merged[-1] = Segment(last.start, max(last.end, seg.end))
        else:
            merged.append(seg)
    return tuple(merged)


@dataclass(frozen=True, eq=False, slots=True)
class Track(JsonResult):
    """One face followed through one shot.

    Attributes:
        id: track number in order of first appearance.
        start / end: the time range the face is on screen (seconds).
        shot: the shot it belongs to (0-based; tracks never cross a cut).
        label: the enrolled name, ``unknown_N``, or ``None`` (too short or poor to judge).
        status: see :data:`TrackStatus`.
        similarity: the best gallery similarity of the track's embedding (``nan`` when not
            identified against a gallery).
        detections: detections matched to the track.
        faces_embedded: faces whose embeddings were averaged into ``embedding``.
        times: (K,) times of the matched detections, seconds.
        boxes: (K, 4) the detected boxes at those times, pixels.
        embedding: (D,) unit mean of the embedded faces, or ``None``.
        thumbnail: JPEG of the track's best aligned face, or ``None``.
        best_embedding: (D,) unit embedding of that best face alone, or ``None``: what a
            template made from the track holds (a mean of frames resembles strangers more
            than any one face does; see ``benchmarks/bench_template_far.py``).
        best_side: shorter side of the best face's box, pixels (0 when there is none).
        face_embeddings: (faces_embedded, D) each embedded face's own unit embedding, or
            ``None``: a name needs most of them to match on their own.
    """

    id: int
    start: float = field(metadata=json_options(json=False))
    end: float = field(metadata=json_options(json=False))
    shot: int
    label: str | None
    status: TrackStatus
    similarity: float = field(metadata=json_options(convert=_finite, digits=4, schema=float | None))
    detections: int
    faces_embedded: int
    times: FloatArray = field(metadata=json_options(json=False))
    boxes: FloatArray = field(metadata=json_options(json=False))
    embedding: FloatArray | None = field(metadata=json_options(json=False))
    thumbnail: bytes | None = field(metadata=json_options(json=False))
    best_embedding: FloatArray | None = field(default=None, metadata=json_options(json=False))
    best_side: float = field(default=0.0, metadata=json_options(json=False))
    face_embeddings: FloatArray | None = field(default=None, metadata=json_options(json=False))

    json_computed = (
        computed("segment", name="segments", convert=lambda s: [s.to_list()], schema=_SEGMENTS),
    )
    json_order = (
        "id", "label", "status", "similarity", "shot", "segments", "detections", "faces_embedded",
    )  # fmt: skip

    @property
    def segment(self) -> Segment:
        """The track's time range."""
        return Segment(self.start, self.end)


@dataclass(frozen=True)
class PersonTime(JsonResult):
    """Screen time of one person (enrolled, or an ``unknown_N`` cluster of tracks).

    Attributes:
        name: enrolled name or ``unknown_N``.
        known: whether the name is an enrolled one.
        seconds: total time on screen (union of the person's tracks, small gaps joined).
        share: ``seconds`` divided by the video's duration (0..1).
        segments: the time ranges on screen, in order.
        tracks: ids of the person's tracks.
    """

    name: str
    known: bool
    seconds: float = field(metadata=json_options(digits=3))
    share: float = field(metadata=json_options(digits=4))
    segments: tuple[Segment, ...] = field(
        metadata=json_options(convert=_segment_lists, schema=_SEGMENTS)
    )
    tracks: tuple[int, ...]

    json_computed = (
        computed("appearances"),
        computed("first_seen", digits=3),
        computed("last_seen", digits=3),
    )
    json_order = (
        "name", "known", "seconds", "share", "appearances", "first_seen", "last_seen",
        "segments", "tracks",
    )  # fmt: skip

    @property
    def appearances(self) -> int:
        """Separate times the person comes on screen."""
        return len(self.segments)

    @property
    def first_seen(self) -> float:
        """Start of the first segment (seconds)."""
        return self.segments[0].start if self.segments else float("nan")

    @property
    def last_seen(self) -> float:
        """End of the last segment (seconds)."""
        return self.segments[-1].end if self.segments else float("nan")


@dataclass(frozen=True)
class ScreenTime(JsonResult):
    """Who is on screen when, in one video.

    Attributes:
        video: what the container declares.
        duration: seconds of video decoded (end of the last frame).
        frames: frames decoded.
        frames_detected: frames the detector ran on.
        frames_searched: of those, the frames searched in full (the others were searched
            near the live tracks, see ``VideoOptions.rescan``; with a detector that has no
            cheaper search near boxes, such as dlib's HOG, that too searches everything).
        every: the detection interval used last (frames; chosen or set).
        shots: shots found (cuts + 1).
        decode_errors: packets or frames that failed to decode and were skipped.
        people: per person, most screen time first.
        tracks: every track, in order of first appearance.
        pack / threshold: the model pack and the identification threshold used.
        augment: the test-time augmentation of the track embeddings (the analyzer's).
        seconds / cpu_seconds: wall and CPU time of the run.
    """

    video: VideoInfo
    duration: float = field(metadata=json_options(digits=3))
    frames: int
    frames_detected: int
    every: int
    shots: int
    decode_errors: int
    people: tuple[PersonTime, ...]
    tracks: tuple[Track, ...]
    pack: str
    threshold: float
    seconds: float = field(metadata=json_options(digits=3))
    cpu_seconds: float = field(metadata=json_options(digits=3))
    augment: str = "none"
    frames_searched: int = 0

    json_computed = (computed("realtime_factor", digits=3), computed("track_status"))
    json_order = (
        "video", "duration", "frames", "frames_detected", "frames_searched", "every", "shots",
        "decode_errors",
        "pack", "augment", "threshold", "seconds", "cpu_seconds", "realtime_factor",
        "track_status", "people", "tracks",
    )  # fmt: skip

    @property
    def realtime_factor(self) -> float:
        """Video seconds processed per wall second (above 1: faster than real time)."""
        return self.duration / self.seconds if self.seconds > 0 else float("inf")

    def person(self, name: str) -> PersonTime | None:
        """The entry of ``name``, or ``None``."""
        return next((p for p in self.people if p.name == name), None)

    def tracks_of(self, names: Sequence[str]) -> list[Track]:
        """The tracks labelled with one of ``names``."""
        wanted = set(names)
        return [t for t in self.tracks if t.label in wanted]

    @property
    def track_status(self) -> dict[str, int]:
        """Tracks per status, in order of first occurrence."""
        counts: dict[str, int] = {}
        for t in self.tracks:
            counts[t.status] = counts.get(t.status, 0) + 1
        return counts
