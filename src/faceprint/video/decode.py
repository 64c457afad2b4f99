"""Streaming video decoding with PyAV (FFmpeg): frames with their container times.

Frame times come from each frame's presentation timestamp, so variable-frame-rate files are
timed correctly; they are in seconds from the start of the container (its ``start_time`` is
subtracted, as players do). Frames are decoded one at a time and never all held. The rotation
stored in the container (display matrix) is applied, so images are upright as a player shows
them. A packet that fails to decode is counted in :attr:`VideoReader.errors` and skipped; a
file truncated mid-stream ends the iteration early with the problem counted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

try:
    import av
except ImportError as _exc:
    from faceprint._optional import missing

    raise missing("av", feature="faceprint video") from _exc
import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult, json_options
from faceprint.errors import VideoError

__all__ = [
    "ACCEPTED",
    "MAX_PIXELS",
    "MIN_SIDE",
    "Frame",
    "VideoInfo",
    "VideoReader",
    "container_format",
    "probe",
]

logger = logging.getLogger(__name__)

#: frames with more pixels than this (8K UHD is 33.2 million) are refused as absurd
MAX_PIXELS = 40_000_000
#: frames narrower or lower than this many pixels are refused
MIN_SIDE = 16


@dataclass(frozen=True)
class VideoInfo(JsonResult):
    """What the container says about a video, before decoding it.

    Attributes:
        path: the file.
        width / height: frame size in pixels as displayed (rotation applied).
        rotation: clockwise display rotation in degrees (0, 90, 180, 270) applied to frames.
        fps: the stream's average frame rate (frames per second; 0.0 when unknown).
        duration: container duration in seconds (0.0 when unknown).
        frames: frame count the container declares (0 when unknown; an estimate for VFR).
        codec: the video codec's name.
    """

    path: str
    width: int
    height: int
    rotation: int
    fps: float = field(metadata=json_options(digits=3))
    duration: float = field(metadata=json_options(digits=3))
    frames: int
    codec: str


@dataclass(frozen=True, eq=False, slots=True)
class Frame:
    """One decoded frame; its pixels are converted only when asked for.

    Attributes:
        index: position among the frames decoded (0-based).
        time: presentation time in seconds from the start of the video.
        rotation: clockwise quarter turns applied to :meth:`rgb`.
    """

    index: int
    time: float
    rotation: int
    raw: Any

    def rgb(self) -> npt.NDArray[np.uint8]:
        """(H, W, 3) uint8 RGB, upright (rotation applied).

        Raises:
            VideoError: the frame cannot be converted.
        """
        try:
            image = self.raw.to_ndarray(format="rgb24")
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError(f"frame {self.index} cannot be converted ({_detail(exc)})") from exc
        if self.rotation:
            return np.ascontiguousarray(np.rot90(image, k=-self.rotation))
        return image

    def small(self, width: int = 64, height: int = 36) -> npt.NDArray[np.uint8]:
        """A ``width`` × ``height`` RGB copy, not rotated (for colour statistics; cheap)."""
        try:
            return self.raw.to_ndarray(width=width, height=height, format="rgb24")
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError(f"frame {self.index} cannot be converted ({_detail(exc)})") from exc


#: ISO base media (MP4, MOV, 3GP) top-level boxes a file may start with
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
ACCEPTED = "MP4/MOV, Matroska/WebM, AVI, MPEG-TS, MPEG-PS, FLV or Ogg"


def container_format(head: bytes) -> str | None:
    """FFmpeg's demuxer name for a file starting with ``head`` (at least 400 bytes when the
    file has them), or ``None`` when it is not an accepted container.

    Only self-contained formats are accepted, identified from their bytes (never the name):
    playlists and manifests (HLS ``.m3u8``, ``concat``/``ffconcat`` lists, SDP, DASH ``.mpd``,
    image sequences) can make FFmpeg open other files or URLs and are refused.
    """
    if head[4:8] in _ISO_BOXES:
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    for packet, offset in ((188, 0), (192, 4)):  # MPEG-TS, and M2TS with its 4-byte prefix
        marks = [offset + i * packet for i in range(3) if offset + i * packet < len(head)]
        if len(marks) >= 2 and all(head[m] == 0x47 for m in marks):
            return "mpegts"
    return None


#: FFmpeg options for every open: only the ``file`` protocol (no network, no other protocol a
#: container could name), and QuickTime data references (links to other files) ignored
_SAFE_OPTIONS = {"protocol_whitelist": "file", "enable_drefs": "0", "use_absolute_path": "0"}


def _open(path: Path) -> Any:
    if not path.is_file():
        raise VideoError(f"{path}: no such file", source=path)
    with path.open("rb") as fh:
        head = fh.read(400)
    kind = container_format(head)
    if kind is None:
        raise VideoError(
            f"{path}: not a video container faceprint accepts ({ACCEPTED}, identified from "
            "the bytes); playlists and formats that reference other files or URLs are refused",
            source=path,
        )
    options = _SAFE_OPTIONS if kind == "mov" else {"protocol_whitelist": "file"}
    try:
        container = av.open(
            "file:" + str(path.resolve()),
            mode="r",
            format=kind,
            options=dict(options),
            metadata_errors="ignore",
        )
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoError(
            f"{path}: not a video FFmpeg can read ({_detail(exc)})", source=path
        ) from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: the file has no video stream", source=path)
    return container


def _detail(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _first_rotation(container: Any) -> int:
    """Clockwise display rotation in degrees of the first frame that decodes (0 when none)."""
    try:
        for frame in container.decode(container.streams.video[0]):
            return _clockwise(float(frame.rotation or 0))
    except (av.FFmpegError, ValueError):
        return 0
    return 0


def _clockwise(counterclockwise: float) -> int:
    """FFmpeg's counterclockwise display angle → the clockwise quarter turn it asks for."""
    return round(-counterclockwise / 90.0) % 4 * 90


def _check_size(path: Path, width: int, height: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE or width * height > MAX_PIXELS:
        raise VideoError(
            f"{path}: frame size {width}x{height} is out of range (each side at least "
            f"{MIN_SIDE} px, at most {MAX_PIXELS:,} pixels)",
            source=path,
        )


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """The container's description of the first video stream of ``path``.

    Raises:
        VideoError: not a file FFmpeg can open, no video stream, or an absurd frame size.
    """
    file = Path(path)
    container = _open(file)
    try:
        info = _info(file, container)
        return _rotated(info, _first_rotation(container))
    finally:
        container.close()


def _info(path: Path, container: Any) -> VideoInfo:
    stream = container.streams.video[0]
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    _check_size(path, width, height)
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    duration = float(container.duration / av.time_base) if container.duration else 0.0
    if not duration and stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    frames = int(stream.frames or 0) or round(duration * fps)
    return VideoInfo(str(path), width, height, 0, fps, duration, frames, str(ctx.name))


def _rotated(info: VideoInfo, rotation: int) -> VideoInfo:
    """``info`` with the display rotation (degrees clockwise) and the displayed size."""
    if rotation == info.rotation:
        return info
    swap = (rotation - info.rotation) % 180 == 90
    width, height = (info.height, info.width) if swap else (info.width, info.height)
    return replace(info, width=width, height=height, rotation=rotation)


class VideoReader:
    """Iterate over the frames of a video, streamed; use as a context manager.

    Args:
        path: the video file.

    Attributes:
        info: the :class:`VideoInfo` (its rotation and displayed size are known once the
            first frame is decoded).
        errors: packets or frames that failed to decode and were skipped (incl. a truncated end).
        frames: frames decoded so far.
        end_time: the end of the last frame decoded, in seconds (its time + its duration).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._container = _open(self.path)
        try:
            self.info = _info(self.path, self._container)
        except BaseException:
            self._container.close()
            raise
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        start = self._container.start_time
        self._start = float(start / av.time_base) if start is not None else 0.0
        self.errors = 0
        self.frames = 0
        self.end_time = 0.0
        self._frame_step = 1.0 / self.info.fps if self.info.fps > 0 else 1.0 / 30

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""
        self._container.close()

    def __iter__(self) -> Iterator[Frame]:
        last_time = -1.0
        for raw in self._decoded():
            if raw.width * raw.height > MAX_PIXELS or min(raw.width, raw.height) < MIN_SIDE:
                _check_size(self.path, raw.width, raw.height)
            time = self._time(raw, last_time)
            last_time = time
            self.end_time = time + self._duration(raw)
            turn = _clockwise(float(raw.rotation or 0)) // 90
            if self.frames == 0:
                self.info = _rotated(self.info, turn * 90)
            yield Frame(self.frames, time, turn, raw)
            self.frames += 1

    def seek(self, seconds: float) -> None:
        """Continue from the key frame at or before ``seconds`` (frames before it may follow:
        skip them by their time)."""
        target = int((max(0.0, seconds) + self._start) * av.time_base)
        try:
            self._container.seek(target, backward=True, any_frame=False)
        except av.FFmpegError as exc:
            raise VideoError(
                f"{self.path}: cannot seek ({_detail(exc)})", source=self.path
            ) from exc

    def _decoded(self) -> Iterator[Any]:
        demux = self._container.demux(self._stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except (av.FFmpegError, OSError) as exc:  # truncated or unreadable container
                self.errors += 1
                logger.warning("%s: demuxing stopped (%s)", self.path, _detail(exc))
                break
            yield from self._decode_packet(packet)

    def _decode_packet(self, packet: Any) -> Iterator[Any]:
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError) as exc:
            self.errors += 1
            logger.info("%s: a packet failed to decode (%s)", self.path, _detail(exc))
            return
        yield from frames

    def _time(self, raw: Any, last: float) -> float:
        if raw.pts is None or raw.time is None:
            return last + self._frame_step if last >= 0 else 0.0
        return max(0.0, float(raw.time) - self._start)

    def _duration(self, raw: Any) -> float:
        if raw.duration and raw.time_base:
            return float(raw.duration * raw.time_base)
        return self._frame_step
