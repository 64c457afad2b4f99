"""Video containers are identified from their bytes and opened with FFmpeg restricted to the one
file: self-contained formats play, playlists and lists that make FFmpeg open other files or URLs
(HLS, concat, ffconcat, SDP, DASH) are refused by the library, hence by the CLI, ``video index``
and the server alike."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from faceprint.errors import VideoError
from faceprint.video import probe
from faceprint.video.decode import VideoReader, container_format


def write(path: Path, fmt: str, codec: str = "mpeg4", frames: int = 6) -> Path:
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            image = np.full((48, 64, 3), 20 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize(
    ("fmt", "suffix", "kind"),
    [("mp4", "mp4", "mov"), ("mov", "mov", "mov"), ("matroska", "mkv", "matroska"),
     ("avi", "avi", "avi"), ("mpegts", "ts", "mpegts"), ("flv", "flv", "flv")],
)  # fmt: skip
def test_self_contained_containers_play(tmp_path: Path, fmt: str, suffix: str, kind: str) -> None:
    codec = "flv" if fmt == "flv" else "mpeg4"
    path = write(tmp_path / f"v.{suffix}", fmt, codec)
    assert container_format(path.read_bytes()[:400]) == kind
    named_wrong = path.rename(tmp_path / "clip.m3u8")  # the name plays no part
    assert probe(named_wrong).width == 64
    with VideoReader(named_wrong) as reader:
        assert sum(1 for _ in reader) >= 5


def _playlists(tmp_path: Path, segment: Path) -> dict[str, str]:
    return {
        "hls.m3u8": f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{segment}\n#EXT-X-ENDLIST\n",
        "hls-url.m3u8": "#EXTM3U\n#EXTINF:1.0,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n",
        "list.ffconcat": f"ffconcat version 1.0\nfile '{segment}'\n",
        "list.txt": f"file '{segment}'\n",
        "stream.sdp": "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 9 RTP/AVP 96\n",
        "dash.mpd": '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"><Period>'
        f"<AdaptationSet><Representation><BaseURL>{segment}</BaseURL></Representation>"
        "</AdaptationSet></Period></MPD>",
    }


def test_playlists_naming_other_files_are_refused(tmp_path: Path) -> None:
    secret = write(tmp_path / "private.ts", "mpegts")  # a file a client must never reach
    assert probe(secret).width == 64
    for name, text in _playlists(tmp_path, secret).items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(VideoError, match="playlists and formats that reference") as info:
            probe(path)
        assert "private.ts" not in str(info.value)
        with pytest.raises(VideoError):
            VideoReader(path)


def test_a_playlist_dressed_as_mpegts_is_read_as_mpegts_only(tmp_path: Path) -> None:
    secret = write(tmp_path / "private.ts", "mpegts")
    fake = tmp_path / "fake.ts"  # TS sync bytes every 188 bytes, then a playlist line
    fake.write_text("G" + " " * 187 + "G" + " " * 187 + f"G\n#EXTM3U\n{secret}\n")
    with pytest.raises(VideoError, match="not a video"):  # the demuxer is forced: no HLS
        probe(fake)


def test_container_sniffing_table() -> None:
    assert container_format(b"\x00\x00\x00\x18ftypisom" + b"\0" * 400) == "mov"
    assert container_format(b"\x1a\x45\xdf\xa3" + b"\0" * 60) == "matroska"
    assert container_format(b"RIFF\0\0\0\0AVI LIST") == "avi"
    assert container_format(b"#EXTM3U\n") is None
    assert container_format(b"ffconcat version 1.0\n") is None
    assert container_format(b"GIF89a") is None
    assert container_format(b"") is None
