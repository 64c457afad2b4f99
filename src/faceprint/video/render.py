"""Files made from a :class:`~faceprint.video.ScreenTime`: timeline JSON, CSV and PNG chart,
thumbnails of the unknowns, contact sheets, an annotated copy of the video and clips.

Every file is written to a temporary name in its folder and renamed when complete, so a file
with the final name is never a half-written one.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

try:
    import av
except ImportError as _exc:
    from faceprint._optional import missing

    raise missing("av", feature="faceprint video") from _exc
import cv2
import numpy as np
import numpy.typing as npt

from faceprint.errors import (
    FaceprintError,
    InvalidArgumentError,
    StorageError,
    VideoError,
    map_exceptions,
)
from faceprint.video.decode import VideoReader
from faceprint.video.types import ScreenTime, Segment, Track

__all__ = [
    "annotate_video",
    "contact_sheet",
    "cut_clip",
    "spreadsheet_safe",
    "write_outputs",
    "write_timeline_csv",
    "write_timeline_json",
    "write_timeline_png",
]

_OS_ERRORS: dict[type[BaseException], type[FaceprintError]] = {OSError: StorageError}


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path next to ``path``, renamed to ``path`` when the block succeeds."""
    final = Path(path)
    with map_exceptions(_OS_ERRORS, source=final, what="write"):
        final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.part{final.suffix}")
    try:
        yield tmp
        with map_exceptions(_OS_ERRORS, source=final, what="write"):
            os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp, map_exceptions(_OS_ERRORS, source=path, what="write"):
        tmp.write_bytes(data)


def write_timeline_json(result: ScreenTime, path: str | os.PathLike[str]) -> Path:
    """The whole result as JSON (``ScreenTime.to_dict``)."""
    text = json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
    _write_bytes(Path(path), text.encode("utf-8"))
    return Path(path)


#: first characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV cell that a spreadsheet shows as text: a name such as
    ``=HYPERLINK(...)`` gets a leading apostrophe instead of becoming a live formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_timeline_csv(result: ScreenTime, path: str | os.PathLike[str]) -> Path:
    """One row per person segment: ``name,known,start,end,seconds`` (seconds of the video).

    Names that a spreadsheet would run as a formula are written with a leading apostrophe
    (:func:`spreadsheet_safe`); the JSON output keeps every name as it is."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "known", "start", "end", "seconds"])
    for person in result.people:
        for seg in person.segments:
            writer.writerow(
                [spreadsheet_safe(person.name), int(person.known), f"{seg.start:.3f}", f"{seg.end:.3f}",
                 f"{seg.duration:.3f}"]
            )  # fmt: skip
    _write_bytes(Path(path), buf.getvalue().encode("utf-8"))
    return Path(path)


def write_timeline_png(result: ScreenTime, path: str | os.PathLike[str]) -> Path:
    """A chart: one row per person (most screen time on top), bars where they are on screen."""
    from faceprint._optional import require

    matplotlib = require("matplotlib", extra="video", feature="the timeline PNG")
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    people = list(result.people)
    fig = Figure(figsize=(10, 1.2 + 0.4 * max(1, len(people))), dpi=100)
    ax = fig.add_subplot()
    for row, person in enumerate(reversed(people)):
        bars = [(s.start, s.duration) for s in person.segments]
        ax.broken_barh(bars, (row - 0.35, 0.7), color="tab:blue" if person.known else "tab:gray")
    ax.set_yticks(range(len(people)), [p.name for p in reversed(people)])
    ax.set_xlim(0, max(result.duration, 1e-3))
    ax.set_ylim(-0.6, max(len(people), 1) - 0.4)
    ax.set_xlabel("seconds")
    ax.set_title(f"{Path(result.video.path).name}: screen time", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _write_bytes(Path(path), buf.getvalue())
    return Path(path)


def contact_sheet(thumbnails: Sequence[bytes], *, columns: int = 8, size: int = 112) -> bytes:
    """A JPEG grid of face thumbnails (JPEG bytes each), ``columns`` wide."""
    tiles = [_decode_jpeg(t, size) for t in thumbnails]
    if not tiles:
        raise InvalidArgumentError("a contact sheet needs at least one thumbnail")
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * size, cols * size, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * size : (r + 1) * size, c * size : (c + 1) * size] = tile
    ok, buf = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:  # pragma: no cover - OpenCV always encodes a BGR uint8 image
        raise StorageError("cannot encode the contact sheet")
    return bytes(buf.tobytes())


def _decode_jpeg(data: bytes, size: int) -> npt.NDArray[np.uint8]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return np.zeros((size, size, 3), np.uint8)
    return np.asarray(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA), np.uint8)


def _safe_name(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return keep or "person"


def write_outputs(
    result: ScreenTime, out: str | os.PathLike[str], *, sheets: bool = True
) -> dict[str, Path]:
    """Write ``screentime.json``, ``timeline.csv``, ``timeline.png``, ``unknowns/unknown_N.jpg``
    (each unknown's best face, for enrolment) and ``sheets/NAME.jpg`` (every track's face of
    each person) into the folder ``out``; returns what was written by kind."""
    folder = Path(out)
    written = {
        "json": write_timeline_json(result, folder / "screentime.json"),
        "csv": write_timeline_csv(result, folder / "timeline.csv"),
        "png": write_timeline_png(result, folder / "timeline.png"),
    }
    for person in result.people:
        own = [t for t in result.tracks if t.id in set(person.tracks) and t.thumbnail]
        if not person.known and own:
            best = max(own, key=lambda t: (t.faces_embedded, t.end - t.start))
            path = folder / "unknowns" / f"{_safe_name(person.name)}.jpg"
            _write_bytes(path, best.thumbnail or b"")
            written[f"unknown:{person.name}"] = path
        if sheets and own:
            path = folder / "sheets" / f"{_safe_name(person.name)}.jpg"
            _write_bytes(path, contact_sheet([t.thumbnail or b"" for t in own]))
            written[f"sheet:{person.name}"] = path
    return written


# --- writing video --------------------------------------------------------------------------
class _Encoder:
    """H.264 (or MPEG-4 where libx264 is missing) MP4 writer with millisecond timestamps."""

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        self.container = av.open(str(path), mode="w", format="mp4")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)
        stream: Any = self.container.add_stream(codec, rate=rate)
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        self.stream = stream
        self._last = -1

    def write(self, rgb: npt.NDArray[np.uint8], seconds: float) -> None:
        pts = max(round(seconds * 1000), self._last + 1)
        self._last = pts
        h, w = self.stream.height, self.stream.width
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def _write_video(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    keep: Callable[[float], bool],
    draw: Callable[[npt.NDArray[np.uint8], float], npt.NDArray[np.uint8]],
    *,
    start: float = 0.0,
    end: float = float("inf"),
) -> Path:
    path = Path(target)
    with atomic_path(path) as tmp, VideoReader(source) as reader:
        info = reader.info
        with map_exceptions(
            {av.FFmpegError: VideoError, OSError: StorageError}, source=path, what="write the video"
        ):
            encoder = _Encoder(tmp, info.width, info.height, info.fps)
            written = 0
            try:
                if start > 0:
                    reader.seek(start)
                for frame in reader:
                    if frame.time >= end:
                        break
                    if frame.time < start or not keep(frame.time):
                        continue
                    encoder.write(draw(frame.rgb(), frame.time), frame.time - start)
                    written += 1
            finally:
                encoder.close()
        if written == 0:
            raise VideoError(f"{source}: no frame in the range asked for", source=source)
    return path


def cut_clip(
    video: str | os.PathLike[str], start: float, end: float, target: str | os.PathLike[str]
) -> Path:
    """Re-encode the frames of ``video`` in ``[start, end)`` seconds to the MP4 ``target``."""
    return _write_video(video, target, lambda _t: True, lambda img, _t: img, start=start, end=end)


def _box_at(track: Track, when: float) -> npt.NDArray[np.float32] | None:
    """The track's box at ``when``, interpolated between its detections."""
    if not track.start <= when < track.end or len(track.times) == 0:
        return None
    if when <= track.times[0]:
        return track.boxes[0]
    if when >= track.times[-1]:
        return track.boxes[-1]
    j = int(np.searchsorted(track.times, when))
    t0, t1 = float(track.times[j - 1]), float(track.times[j])
    a = (when - t0) / max(t1 - t0, 1e-9)
    return (1 - a) * track.boxes[j - 1] + a * track.boxes[j]


def annotate_video(result: ScreenTime, target: str | os.PathLike[str]) -> Path:
    """A copy of the video with every track's box and name drawn (MP4)."""
    tracks = sorted(result.tracks, key=lambda t: t.start)

    def draw(image: npt.NDArray[np.uint8], when: float) -> npt.NDArray[np.uint8]:
        canvas = np.ascontiguousarray(image)
        for track in tracks:
            if track.start > when:
                break
            box = _box_at(track, when)
            if box is not None:
                _draw_box(canvas, box, track.label or track.status, track.status == "identified")
        return canvas

    return _write_video(result.video.path, target, lambda _t: True, draw)


def _draw_box(canvas: npt.NDArray[np.uint8], box: Any, label: str, known: bool) -> None:
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    colour = (40, 200, 60) if known else (230, 160, 30)
    cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
    text = label.encode("ascii", "replace").decode("ascii")
    cv2.putText(
        canvas, text, (x1, max(12, y1 - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA
    )


def segments_text(segments: Sequence[Segment]) -> str:
    """``0.8–1.5, 3.6–7.9`` (seconds, one decimal)."""
    return ", ".join(f"{s.start:.1f}–{s.end:.1f}" for s in segments)
