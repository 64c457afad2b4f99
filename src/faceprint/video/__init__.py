"""Video: screen time per person with ``unknown_N``, timelines, and search across videos.

    from faceprint.video import screentime

    result = screentime("clip.mp4", cast={"Barack Obama": "obama.jpg"})
    print(result.people[0].name, result.people[0].seconds)

Decoding is PyAV's (FFmpeg); detection, embedding and identification are the pipeline's and the
gallery's. See :func:`screentime`, :class:`VideoIndex` and :mod:`faceprint.video.render`.
"""

from faceprint.video.decode import Frame, VideoInfo, VideoReader, probe
from faceprint.video.index import IndexOutcome, VideoIndex, VideoRange
from faceprint.video.screentime import Cast, VideoOptions, cast_gallery, face_quality, screentime
from faceprint.video.track import FaceTracker, KalmanBox, ShotDetector
from faceprint.video.types import (
    PersonTime,
    ScreenTime,
    Segment,
    Track,
    TrackStatus,
    VideoCancelledError,
    merge_segments,
)

__all__ = [
    "Cast",
    "FaceTracker",
    "Frame",
    "IndexOutcome",
    "KalmanBox",
    "PersonTime",
    "ScreenTime",
    "Segment",
    "ShotDetector",
    "Track",
    "TrackStatus",
    "VideoCancelledError",
    "VideoIndex",
    "VideoInfo",
    "VideoOptions",
    "VideoRange",
    "VideoReader",
    "cast_gallery",
    "face_quality",
    "merge_segments",
    "probe",
    "screentime",
]
