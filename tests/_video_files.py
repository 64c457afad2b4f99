"""Small generated video files for the video tests (PyAV, no data needed)."""

from __future__ import annotations

import struct
import wave
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


def write_video(
    path: Path,
    times: Sequence[float],
    paint: Callable[[int], Image],
    *,
    codec: str = "mpeg4",
) -> Path:
    """An MP4 whose frame ``i`` is ``paint(i)`` shown at ``times[i]`` seconds (millisecond
    timestamps, so any frame rate, variable too)."""
    first = paint(0)
    h, w = first.shape[:2]
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(paint(i) if i else first, format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (48, 64)) -> Image:
    image = np.zeros((*size, 3), np.uint8)
    image[:] = colour
    return image


def rotate_mp4(path: Path, target: Path) -> Path:
    """A copy of ``path`` whose track header carries a 90° clockwise display matrix (what a
    phone writes for a portrait video)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    version = data[at + 4]
    offset = at + 8 + (20 if version == 0 else 32) + 8 + 8
    struct.pack_into(">9i", data, offset, 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    target.write_bytes(bytes(data))
    return target


def write_wav(path: Path, seconds: float = 0.5) -> Path:
    """An audio-only file (no video stream)."""
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(8000)
        fh.writeframes(b"\0\0" * int(8000 * seconds))
    return path
