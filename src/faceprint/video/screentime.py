"""Screen time per person: decode → detect every N-th frame → track → identify each track once.

    from faceprint.video import screentime

    result = screentime("clip.mp4", cast={"Barack Obama": ["obama.jpg"]})
    for person in result.people:
        print(person.name, person.seconds, person.segments)

The detector and the embedder are the pipeline's (:class:`~faceprint.pipeline.FaceAnalyzer`),
identification is the gallery's (:meth:`~faceprint.gallery.Gallery.identify`) and unknown faces
are grouped with :func:`~faceprint.cluster.cluster_faces`; this module only schedules them.
A track keeps the few best faces it met (large, sharp, frontal: see :func:`face_quality`);
they are embedded once when the track ends and their mean identifies the whole track, so names
do not flicker from frame to frame.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.cluster import cluster_faces
from faceprint.embed.base import l2_normalize
from faceprint.errors import InvalidArgumentError, VideoError
from faceprint.gallery import Gallery
from faceprint.imageio import ImageInput, thumbnail_jpeg
from faceprint.packs import DEFAULT_PACK
from faceprint.pipeline import FaceAnalyzer
from faceprint.types import Faces
from faceprint.video.decode import Frame, VideoReader
from faceprint.video.track import FaceTracker, ShotDetector, TrackState
from faceprint.video.types import (
    PersonTime,
    ScreenTime,
    Track,
    TrackStatus,
    VideoCancelledError,
    merge_segments,
)

__all__ = [
    "Cast",
    "ProgressCallback",
    "VideoOptions",
    "cast_gallery",
    "face_quality",
    "full_search",
    "screentime",
    "unknown_labels",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
#: reference photos per name: ``{"Barack Obama": ["obama.jpg"], ...}`` (one image or several)
Cast = Mapping[str, ImageInput | Sequence[ImageInput]]
#: ``progress(frames_done, frames_expected)`` (the expected count is the container's estimate)
ProgressCallback = Callable[[int, int], None]


#: sharpness (``log1p`` of the Laplacian variance of the face, grey 64 × 64) that a track's
#: sharpest face must reach to be judged (else it is ``poor``). Measured on short_hamilton_clip.mp4 (every 6th frame, default
#: pack): the blurred background faces behind the profile close-up peak at 1.31 and 1.96, the
#: audience shot's faces at 2.59-4.84, Lin-Manuel Miranda's close-ups at 5.8-7.3.
MIN_SHARPNESS = 2.3


@dataclass(frozen=True)
class VideoOptions:
    """How a video is processed (defaults suit the default pack on a laptop CPU).

    Attributes:
        every: detect on every N-th frame, or ``"auto"``: N from the measured cost so that the
            run stays at ``target_speed`` × real time (at most ``fps / min_detection_rate``).
        target_speed: the speed ``"auto"`` aims at (video seconds per wall second).
        min_detection_rate: ``"auto"`` detects at least this many times per video second
            (8: every 3rd frame at most at 25-30 fps). On the Hamilton clip, where BlazeFace
            finds Alex Lacamoire's profile close-up in only some frames, every 2nd, 3rd, 5th
            and 6th frame give it a track of two detections and every 4th, 8th and 9th give
            only single detections (``too_short``): a sparser floor (3 per second, before)
            let a busy machine lose it.
        rescan: seconds between full searches of a shot. Between them, while tracks are live,
            the detector searches near them only (:meth:`FaceAnalyzer.detect_near`: the
            default pack runs BlazeFace's small-face tiles only where a track's face was not
            found in the whole frame), so a new small face away from every track is found at
            the next full search. A cut, or a frame with no live track, is searched in full;
            ``0``: every detection is a full search.
        faces_per_track: best faces embedded per track.
        min_detections: tracks with fewer detections are ``too_short`` (not identified).
        min_face: tracks whose largest face side is below this many pixels are ``poor``.
        merge_gap: a person's segments less than this many seconds apart are joined.
        shot_threshold: histogram change that counts as a shot cut (see ``ShotDetector``).
        iou_threshold / max_lost: tracker association IoU and survival time without detection
            (seconds).
        threshold: identification threshold (default: the gallery's, i.e. the pack's).
        cluster_threshold: cosine similarity that joins unknown tracks (default: the stricter of
            ``threshold`` and the pack's clustering threshold,
            :func:`~faceprint.cluster.default_threshold`).
        min_sharpness: tracks whose sharpest face is blurrier than this (``log1p`` of the
            Laplacian variance, as in :func:`face_quality`) are ``poor``: neither identified,
            grouped into an ``unknown_N`` nor offered for enrolment. Blurred faces look alike to
            the embedding (two different blurred background faces of the Hamilton clip score
            0.975), so they would match strangers.
    """

    every: int | Literal["auto"] = "auto"
    target_speed: float = 3.0
    min_detection_rate: float = 8.0
    rescan: float = 0.5
    faces_per_track: int = 3
    min_detections: int = 2
    min_face: float = 24.0
    merge_gap: float = 0.5
    shot_threshold: float = 0.3
    iou_threshold: float = 0.2
    max_lost: float = 0.7
    threshold: float | None = None
    cluster_threshold: float | None = None
    min_sharpness: float = MIN_SHARPNESS

    def __post_init__(self) -> None:
        if self.every != "auto" and (not isinstance(self.every, int) or self.every < 1):
            raise InvalidArgumentError(
                f"every must be a positive integer or 'auto', got {self.every!r}"
            )
        if not 0.05 <= self.target_speed <= 100:
            raise InvalidArgumentError(
                f"target_speed must be in [0.05, 100], got {self.target_speed}"
            )
        if self.faces_per_track < 1 or self.min_detections < 1:
            raise InvalidArgumentError("faces_per_track and min_detections must be at least 1")
        for name in (
            "merge_gap",
            "max_lost",
            "min_face",
            "min_detection_rate",
            "min_sharpness",
            "rescan",
        ):
            if getattr(self, name) < 0:
                raise InvalidArgumentError(f"{name} must not be negative")


def face_quality(image: npt.NDArray[np.uint8], faces: Faces, index: int) -> float:
    """How good face ``index`` is for recognition: size × frontality × sharpness.

    Size counts up to a 112-px box side; frontality is 1 when the nose tip is midway between
    the eyes and falls to 0 at one eye distance off; sharpness is ``log1p`` of the variance of
    the Laplacian of the face box (grey, resized to 64 × 64).
    """
    side, frontal, sharp = _quality_parts(image, faces, index)
    return min(1.0, side / 112.0) * frontal * max(sharp, 0.1)


def _quality_parts(
    image: npt.NDArray[np.uint8], faces: Faces, index: int
) -> tuple[float, float, float]:
    """Box side, frontality and sharpness of face ``index`` (see :func:`face_quality`)."""
    x1, y1, x2, y2 = faces.boxes[index]
    side = float(min(x2 - x1, y2 - y1))
    lm = faces.landmarks[index]
    eye_dist = float(np.linalg.norm(lm[1] - lm[0])) or 1.0
    offset = abs(float(lm[2, 0] - (lm[0, 0] + lm[1, 0]) / 2)) / eye_dist
    frontal = max(0.05, 1.0 - offset)
    h, w = image.shape[:2]
    crop = image[max(0, int(y1)) : min(h, int(y2)), max(0, int(x1)) : min(w, int(x2))]
    sharp = 0.0
    if crop.size:
        grey = cv2.cvtColor(cv2.resize(crop, (64, 64)), cv2.COLOR_RGB2GRAY)
        sharp = math.log1p(float(cv2.Laplacian(grey, cv2.CV_32F).var()))
    return side, frontal, sharp


@dataclass
class _Building:
    """A track being collected (mutable, internal)."""

    id: int
    shot: int
    start: float
    end: float
    times: list[float] = field(default_factory=list)
    boxes: list[FloatArray] = field(default_factory=list)
    best: list[tuple[float, int, npt.NDArray[np.uint8]]] = field(default_factory=list)
    largest: float = 0.0
    sharpest: float = 0.0


@dataclass
class _Embedded:
    """A finished track with its embedding (internal)."""

    building: _Building
    embedding: FloatArray | None
    faces: int
    thumbnail: bytes | None
    best_embedding: FloatArray | None = None
    best_side: float = 0.0
    face_embeddings: FloatArray | None = None  # (faces, D): each embedded face on its own


#: share of ``"auto"``'s time budget kept for the work no frame pays for: a short video's tracks
#: are embedded after its last frame (on the Hamilton clip at every 3rd frame, embedding its 33
#: faces took 0.23 of the run's 2.42 CPU seconds, timed around ``FaceAnalyzer.embed_crops``),
#: then tracks are named and clustered
END_RESERVE = 0.1


class _Schedule:
    """Which frames the detector runs on: every N-th frame, N fixed or adapted to the cost."""

    def __init__(self, options: VideoOptions, fps: float) -> None:
        self.auto = options.every == "auto"
        self.fps = fps if fps > 0 else 30.0
        self.max_every = max(1, int(self.fps / max(options.min_detection_rate, 1e-6)))
        self.every = min(3, self.max_every) if self.auto else int(options.every)
        self.budget = (1.0 - END_RESERVE) / options.target_speed
        self._plain = 0.0
        self._detect = 0.0
        self._next = 0

    def due(self, index: int, cut: bool) -> bool:
        """Whether to detect on frame ``index`` (always at a cut)."""
        return cut or index >= self._next

    def done(self, index: int, detected: bool, seconds: float) -> None:
        """Record the cost of frame ``index`` (wall seconds since the previous frame was done,
        decoding included); plan the next detection."""
        if detected:
            self._detect = seconds if self._detect == 0 else 0.7 * self._detect + 0.3 * seconds
            self._next = index + self.every
            if self.auto:
                self.every = self._choose()
        else:
            self._plain = seconds if self._plain == 0 else 0.95 * self._plain + 0.05 * seconds

    def _choose(self) -> int:
        spare = self.budget - self.fps * self._plain  # wall seconds per video second
        if spare <= 0 or self._detect <= 0:
            return self.max_every
        needed = self.fps * self._detect / spare
        return int(min(self.max_every, max(1, math.ceil(needed))))


@contextmanager
def cast_gallery(cast: Cast, analyzer: FaceAnalyzer) -> Iterator[Gallery]:
    """A temporary gallery enrolled from reference photos (removed afterwards).

    Raises:
        ImageError / NoFaceError / AmbiguousFaceError: a reference photo gives no single face.
        InvalidArgumentError: an empty cast or an empty name.
    """
    if not cast:
        raise InvalidArgumentError("the cast is empty: give at least one NAME=IMAGE")
    with tempfile.TemporaryDirectory(prefix="faceprint-cast-") as tmp:
        gallery = Gallery.create(
            os.path.join(tmp, "gallery"), analyzer.pack, augment=analyzer.augment
        )
        try:
            for name, images in cast.items():
                many = isinstance(images, (list, tuple))
                gallery.enroll(name, list(images) if many else [images], analyzer)  # type: ignore[arg-type,list-item]
            yield gallery
        finally:
            gallery.close()


def screentime(
    video: str | os.PathLike[str],
    cast: Gallery | Cast | None = None,
    *,
    analyzer: FaceAnalyzer | None = None,
    options: VideoOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ScreenTime:
    """Who is on screen when in ``video``, and for how long.

    Args:
        video: a video file any FFmpeg build reads.
        cast: a :class:`Gallery`, reference photos per name (a temporary gallery is enrolled),
            or ``None`` (everybody is an ``unknown_N``).
        analyzer: the pipeline to use (default: one of the gallery's pack, else the default).
        options: see :class:`VideoOptions`.
        progress: called with ``(frames_done, frames_expected)`` every few frames.
        cancel: set it to stop the run (:class:`VideoCancelledError` is raised).

    Raises:
        VideoError: not a video, no video stream, no frame decoded, an absurd frame size.
        PackMismatchError: the gallery holds embeddings of another pack than the analyzer's.
        VideoCancelledError: ``cancel`` was set.
    """
    options = options or VideoOptions()
    if isinstance(cast, Gallery):
        analyzer = analyzer or FaceAnalyzer(cast.pack, augment=cast.augment)
        _check_pack(cast, analyzer)
        return _Run(video, cast, analyzer, options, progress, cancel).run()
    analyzer = analyzer or FaceAnalyzer(DEFAULT_PACK)
    if not cast:
        return _Run(video, None, analyzer, options, progress, cancel).run()
    with cast_gallery(cast, analyzer) as gallery:
        return _Run(video, gallery, analyzer, options, progress, cancel).run()


def _check_pack(gallery: Gallery, analyzer: FaceAnalyzer) -> None:
    gallery.space.check(analyzer.space, holder=f"the gallery {gallery.directory}")


class _Run:
    """One pass over one video (internal)."""

    def __init__(
        self,
        video: str | os.PathLike[str],
        gallery: Gallery | None,
        analyzer: FaceAnalyzer,
        options: VideoOptions,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        self.path = video
        self.gallery = gallery
        self.fa = analyzer
        self.options = options
        self.progress = progress
        self.cancel = cancel
        self.tracker = FaceTracker(iou_threshold=options.iou_threshold, max_lost=options.max_lost)
        self.shots = ShotDetector(options.shot_threshold)
        self.live: dict[int, _Building] = {}
        self.covering: list[_Building] = []
        self.pending: list[_Building] = []
        self.done: list[_Embedded] = []
        self.shot = 0
        self.detected = 0
        self.searched = 0
        self.searched_at = -math.inf
        self.frame_errors = 0
        self._tick = 0.0  # when the previous frame was done (perf_counter)

    def run(self) -> ScreenTime:
        start, cpu = time.perf_counter(), time.process_time()
        with VideoReader(self.path) as reader:
            schedule = _Schedule(self.options, reader.info.fps)
            self._tick = time.perf_counter()
            for frame in reader:
                self._frame(frame, schedule)
                if self.progress and frame.index % 10 == 0:
                    self.progress(frame.index + 1, reader.info.frames)
            if reader.frames == 0:
                raise VideoError(f"{reader.path}: no frame could be decoded", source=reader.path)
            self._cover(reader.end_time)
            self._finish(self.tracker.finish())
            self._embed_pending()
            if self.progress:
                self.progress(reader.frames, reader.frames)
            return self._result(
                reader, schedule, time.perf_counter() - start, time.process_time() - cpu
            )

    def _result(
        self, reader: VideoReader, schedule: _Schedule, wall: float, cpu: float
    ) -> ScreenTime:
        tracks = self._label()
        return ScreenTime(
            video=reader.info,
            duration=reader.end_time,
            frames=reader.frames,
            frames_detected=self.detected,
            frames_searched=self.searched,
            every=schedule.every,
            shots=self.shot + 1,
            decode_errors=reader.errors + self.frame_errors,
            people=_people(tracks, reader.end_time, self.options.merge_gap),
            tracks=tuple(tracks),
            pack=self.fa.pack.name,
            threshold=self._threshold(),
            seconds=wall,
            cpu_seconds=cpu,
            augment=self.fa.augment,
        )

    def _threshold(self) -> float:
        if self.options.threshold is not None:
            return self.options.threshold
        return self.gallery.threshold if self.gallery is not None else self.fa.threshold

    # --- per frame ----------------------------------------------------------------------------
    def _frame(self, frame: Frame, schedule: _Schedule) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise VideoCancelledError(f"{self.path}: cancelled", source=self.path)
        self._cover(frame.time)
        try:
            cut = self.shots.is_cut(frame.small())
            if cut:
                self.shot += 1
                self._finish(self.tracker.finish())
                self.covering = []
            detect = schedule.due(frame.index, cut)
            if detect:
                self._detect(frame)
        except VideoError as exc:
            self.frame_errors += 1
            logger.info("%s: frame %d skipped (%s)", self.path, frame.index, exc)
            return
        # the frame's cost: everything since the previous one (its decoding included)
        now = time.perf_counter()
        schedule.done(frame.index, detect, now - self._tick)
        self._tick = now

    def _cover(self, until: float) -> None:
        """Tracks matched at the latest detection are on screen until ``until``."""
        for building in self.covering:
            building.end = max(building.end, until)

    def _detect(self, frame: Frame) -> None:
        image = frame.rgb()
        faces = self._search(frame.time, image)
        self.detected += 1
        ids, ended = self.tracker.update(frame.time, faces.boxes, faces.scores)
        for index, track_id in enumerate(ids.tolist()):
            if track_id >= 0:
                self._observe(int(track_id), frame.time, image, faces, index)
        self.covering = [self.live[t.id] for t in self.tracker.active if t.matched_now]
        self._finish(ended)

    def _search(self, when: float, image: npt.NDArray[np.uint8]) -> Faces:
        """A full search, or one near the live tracks (see ``VideoOptions.rescan``)."""
        live = self.tracker.predict(when)
        if full_search(bool(live), when - self.searched_at, self.options.rescan):
            self.searched += 1
            self.searched_at = when
            return self.fa.detect(image)
        return self.fa.detect_near(image, np.stack([t.box for t in live]))

    def _observe(
        self, track_id: int, when: float, image: npt.NDArray[np.uint8], faces: Faces, index: int
    ) -> None:
        building = self.live.get(track_id)
        if building is None:
            building = self.live[track_id] = _Building(track_id, self.shot, when, when)
        building.times.append(when)
        building.boxes.append(faces.boxes[index].copy())
        x1, y1, x2, y2 = faces.boxes[index]
        building.largest = max(building.largest, float(min(x2 - x1, y2 - y1)))
        side, frontal, sharp = _quality_parts(image, faces, index)
        building.sharpest = max(building.sharpest, sharp)
        quality = min(1.0, side / 112.0) * frontal * max(sharp, 0.1)
        if len(building.best) < self.options.faces_per_track or quality > building.best[0][0]:
            crop = self.fa.align(image, faces[[index]])[0]
            item = (quality, len(building.times), crop)
            if len(building.best) < self.options.faces_per_track:
                heapq.heappush(building.best, item)
            else:
                heapq.heapreplace(building.best, item)

    # --- finished tracks ----------------------------------------------------------------------
    def _finish(self, ended: Sequence[TrackState]) -> None:
        for state in ended:
            building = self.live.pop(state.id, None)
            if building is not None:
                self.pending.append(building)
        if sum(len(b.best) for b in self.pending) >= 32:
            self._embed_pending()

    def _embed_pending(self) -> None:
        crops = [c for b in self.pending for _, _, c in b.best]
        if not crops:
            self.done.extend(_Embedded(b, None, 0, None) for b in self.pending)
            self.pending = []
            return
        vectors = self.fa.embed_crops(np.stack(crops))
        at = 0
        for building in self.pending:
            n = len(building.best)
            mean = vectors[at : at + n].mean(axis=0, keepdims=True) if n else None
            top = max(range(n), key=lambda i: building.best[i][:2]) if n else None
            self.done.append(
                _Embedded(
                    building,
                    None if mean is None else l2_normalize(mean)[0],
                    n,
                    None if top is None else thumbnail_jpeg(building.best[top][2]),
                    None if top is None else vectors[at + top],
                    0.0 if top is None else _side(building.boxes[building.best[top][1] - 1]),
                    vectors[at : at + n] if n else None,
                )
            )
            building.best = []  # the crops are embedded: a finished track keeps no pixels
            at += n
        self.pending = []

    # --- naming -------------------------------------------------------------------------------
    def _status(self, item: _Embedded) -> TrackStatus:
        if len(item.building.times) < self.options.min_detections or item.embedding is None:
            return "too_short"
        if (
            item.building.largest < self.options.min_face
            or item.building.sharpest < self.options.min_sharpness
        ):
            return "poor"
        return "unknown"

    def _label(self) -> list[Track]:
        items = sorted(self.done, key=lambda e: (e.building.start, e.building.id))
        status: list[TrackStatus] = [self._status(e) for e in items]
        labels: list[str | None] = [None] * len(items)
        sims = [float("nan")] * len(items)
        judged = [i for i, s in enumerate(status) if s == "unknown"]
        if judged and self.gallery is not None and len(self.gallery):
            vecs = np.stack([items[i].embedding for i in judged])  # type: ignore[misc]
            found = name_tracks(
                self.gallery, vecs, [items[i].face_embeddings for i in judged], self._threshold()
            )
            for i, (name, similarity) in zip(judged, found):
                sims[i] = similarity
                if name is not None:
                    labels[i], status[i] = name, "identified"
        unknown = [i for i in judged if status[i] == "unknown"]
        for i, name in zip(unknown, self._unknown_names([items[i] for i in unknown])):
            labels[i] = name
        return [_track(i, e, labels[i], status[i], sims[i]) for i, e in enumerate(items)]

    def _unknown_names(self, items: list[_Embedded]) -> list[str]:
        """``unknown_N`` per track: similar tracks share a name, numbered by first appearance.

        Tracks are compared face by face (average linkage of their embedded faces: the mean
        cosine of every pair of faces across the two tracks), not by their mean embeddings: the
        means of two strangers' blurred faces drift together (on the shared crowd clip four
        different people joined one unknown_N by their means)."""
        if not items:
            return []
        spans = [(e.building.start, e.building.end) for e in items]
        faces = [e.face_embeddings for e in items]
        if len(items) > 2000 or any(f is None or not len(f) for f in faces):
            vecs = np.stack([e.embedding for e in items]).astype(np.float32)  # type: ignore[misc]
            found = cluster_faces(
                vecs, threshold=self._cluster_threshold(), min_size=1, space=self.fa.space
            )
            return unknown_labels(found.labels, spans)
        return unknown_labels(
            track_clusters(faces, self._cluster_threshold()),  # type: ignore[arg-type]
            spans,
        )

    def _cluster_threshold(self) -> float:
        """Tracks join when surely alike: the pack's clustering threshold is stricter than its
        verification one (a wrong merge names strangers together; a missed one costs a click)."""
        if self.options.cluster_threshold is not None:
            return self.options.cluster_threshold
        return max(self._threshold(), self.fa.space.cluster_threshold)


def full_search(live: bool, since: float, rescan: float) -> bool:
    """Whether a detection searches the whole frame in full: when no track is live (a new
    shot, an empty scene) or ``rescan`` seconds have passed ``since`` the last full search."""
    return not live or since >= rescan


def name_tracks(
    gallery: Gallery,
    means: FloatArray,
    faces: Sequence[FloatArray | None],
    threshold: float,
) -> list[tuple[str | None, float]]:
    """Per track (its unit mean embedding, its embedded faces): the gallery's name, or ``None``,
    and the mean's best similarity.

    The mean names the candidate; the name is given only when most of the track's faces, each
    on its own, are that person at ``threshold``. The threshold is calibrated on single faces,
    and the mean of a track's faces scores higher against everyone, strangers included (on the
    shared crowd clip a stranger's mean scored 0.915 against a cast photo while his three faces
    scored 0.884-0.887). A track without its faces (an index written before they were kept) is
    judged by its mean alone."""
    found = gallery.identify(means, threshold=threshold)
    rows: list[int] = []
    stacked: list[FloatArray] = []
    for i, ident in enumerate(found):
        vectors = faces[i]
        if ident.name is not None and vectors is not None and len(vectors):
            rows.extend([i] * len(vectors))
            stacked.extend(vectors)
    agree: list[npt.NDArray[np.bool_] | None] = [None] * len(found)
    if stacked:
        per_face = gallery.identify(np.stack(stacked), threshold=threshold)
        same = np.array([f.name == found[i].name for i, f in zip(rows, per_face, strict=True)])
        track_of = np.array(rows)
        for i in set(rows):
            agree[i] = same[track_of == i]
    return [
        (ident.name if faces_agree(agree[i]) else None, ident.similarity)
        for i, ident in enumerate(found)
    ]


def faces_agree(agree: npt.NDArray[np.bool_] | None) -> bool:
    """The rule a track is judged by: most of its embedded faces, each on its own, agree (with a
    gallery's name, or with a query face). ``None`` (a track kept without its faces, in an index
    written before they were) is judged by its mean alone, already checked by the caller."""
    return agree is None or not len(agree) or 2 * int(np.count_nonzero(agree)) > len(agree)


def track_clusters(faces: Sequence[FloatArray], threshold: float) -> npt.NDArray[np.int64]:
    """Cluster labels of tracks given each track's (k, D) unit face embeddings: average
    linkage over faces, two tracks' similarity being the mean cosine of their cross pairs;
    merging stops below ``threshold``."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = len(faces)
    if n < 2:
        return np.zeros(n, np.int64)
    # the mean cosine of every cross pair of faces is the dot product of the tracks' face sums
    # over the product of their face counts: (tracks, D) work, no (faces, faces) matrix
    sums = np.stack([np.asarray(f, np.float64).sum(axis=0) for f in faces])
    counts = np.array([len(f) for f in faces], np.float64)
    similarity = (sums @ sums.T) / np.outer(counts, counts)
    distance = np.clip(1.0 - similarity, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return fcluster(tree, t=1.0 - threshold, criterion="distance").astype(np.int64) - 1


def unknown_labels(
    labels: npt.NDArray[np.int64], spans: Sequence[tuple[float, float]]
) -> list[str]:
    """``unknown_N`` names from cluster labels (``-1``: a cluster of its own), numbered in order
    of first appearance (``spans`` are sorted by start); tracks on screen at the same time are
    different people, so a cluster holding overlapping tracks is split into groups that do not
    overlap (each track joins the first group it fits in time)."""
    groups: dict[tuple[int, int], list[tuple[float, float]]] = {}
    names: dict[tuple[int, int], str] = {}
    out: list[str] = []
    for i, (lab, span) in enumerate(zip(labels.tolist(), spans)):
        base = int(lab) if lab >= 0 else -1 - i
        part = 0
        while any(span[0] < b and a < span[1] for a, b in groups.get((base, part), [])):
            part += 1
        groups.setdefault((base, part), []).append(span)
        key = (base, part)
        if key not in names:
            names[key] = f"unknown_{len(names) + 1}"
        out.append(names[key])
    return out


def _track(
    number: int, item: _Embedded, label: str | None, status: TrackStatus, sim: float
) -> Track:
    b = item.building
    return Track(
        id=number,
        start=b.start,
        end=max(b.end, b.start),
        shot=b.shot,
        label=label,
        status=status,
        similarity=sim,
        detections=len(b.times),
        faces_embedded=item.faces,
        times=np.asarray(b.times, np.float32),
        boxes=np.asarray(b.boxes, np.float32).reshape(-1, 4),
        embedding=item.embedding,
        thumbnail=item.thumbnail,
        best_embedding=item.best_embedding,
        best_side=item.best_side,
        face_embeddings=item.face_embeddings,
    )


def _side(box: FloatArray) -> float:
    return float(min(box[2] - box[0], box[3] - box[1]))


def _people(tracks: Sequence[Track], duration: float, gap: float) -> tuple[PersonTime, ...]:
    by_name: dict[str, list[Track]] = {}
    for track in tracks:
        if track.label is not None:
            by_name.setdefault(track.label, []).append(track)
    people = []
    for name, own in by_name.items():
        segments = merge_segments((t.segment for t in own), gap)
        seconds = sum(s.duration for s in segments)
        known = own[0].status == "identified"
        share = seconds / duration if duration > 0 else 0.0
        people.append(PersonTime(name, known, seconds, share, segments, tuple(t.id for t in own)))
    return tuple(sorted(people, key=lambda p: (-p.seconds, p.first_seen)))
