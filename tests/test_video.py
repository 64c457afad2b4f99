"""Video: decoding (VFR times, rotation, bad input), tracker, shot cuts, segments, CLI errors.

Generated files only (PyAV); the real-clip tests are in test_video_real.py.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _gallery_fakes import ColourEmbedder, SquareDetector
from _video_files import rotate_mp4, solid, write_video, write_wav
from faceprint.cli import app
from faceprint.errors import VideoError
from faceprint.pipeline import FaceAnalyzer
from faceprint.types import Faces
from faceprint.video import (
    FaceTracker,
    KalmanBox,
    Segment,
    ShotDetector,
    VideoCancelledError,
    VideoReader,
    merge_segments,
    probe,
    screentime,
)
from faceprint.video.track import iou_matrix


# --- decoding ---------------------------------------------------------------------------------
def test_vfr_times_come_from_the_container(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.15, 0.5, 1.0, 1.04, 2.0]
    path = write_video(tmp_path / "vfr.mp4", times, lambda i: solid((10 * i, 0, 0)))
    with VideoReader(path) as reader:
        got = [f.time for f in reader]
        end = reader.end_time
    assert got == pytest.approx(times, abs=1e-3)
    assert end >= 2.0


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    def paint(_i: int) -> np.ndarray:
        image = solid((0, 0, 0), (32, 64))
        image[:, :32] = 255  # left half white
        return image

    plain = write_video(tmp_path / "plain.mp4", [0, 0.1, 0.2], paint)
    rotated = rotate_mp4(plain, tmp_path / "rot.mp4")
    info = probe(rotated)
    assert (info.width, info.height, info.rotation) == (32, 64, 90)
    with VideoReader(rotated) as reader:
        image = next(iter(reader)).rgb()
    assert image.shape == (64, 32, 3)
    # turned clockwise: the left half is now the top half
    assert image[:28].mean() > 200 and image[36:].mean() < 50


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not a video at all"), "not a video"),
        (lambda p: write_wav(p), "not a video"),
        (lambda p: None, "no such file"),
    ],
    ids=["text", "audio-only", "missing"],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "input.bin"
    make(path)
    with pytest.raises(VideoError, match=message):
        probe(path)


def test_absurd_resolution_is_refused(tmp_path: Path) -> None:
    path = write_video(tmp_path / "tiny.mp4", [0, 0.1], lambda _i: solid((9, 9, 9), (8, 8)))
    with pytest.raises(VideoError, match="out of range"):
        probe(path)


def test_corrupt_middle_is_counted_and_the_run_finishes(
    tmp_path: Path, analyzer: FaceAnalyzer
) -> None:
    rng = np.random.default_rng(0)
    times = [i / 10 for i in range(40)]
    path = write_video(
        tmp_path / "v.mp4", times, lambda _i: rng.integers(0, 255, (48, 64, 3), np.uint8)
    )
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 3000] = rng.integers(0, 255, 3000, np.uint8).tobytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    result = screentime(broken, None, options=_fast(), analyzer=analyzer)
    assert result.frames > 0
    assert result.decode_errors > 0 or result.frames < len(times)


def test_truncated_file_finishes_with_the_frames_before_the_cut(
    tmp_path: Path, analyzer: FaceAnalyzer
) -> None:
    times = [i / 10 for i in range(30)]
    path = write_video(tmp_path / "v.mp4", times, lambda i: solid((8 * i, 50, 50)))
    cut = tmp_path / "cut.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    try:
        result = screentime(cut, None, options=_fast(), analyzer=analyzer)
    except VideoError as exc:  # moov atom at the end: nothing decodable
        assert "cut.mp4" in str(exc)
    else:
        assert 0 < result.frames <= len(times)


def test_zero_frames_is_an_error(tmp_path: Path, analyzer: FaceAnalyzer) -> None:
    import av

    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    with pytest.raises(VideoError):
        screentime(path, None, options=_fast(), analyzer=analyzer)


def _fast():
    from faceprint.video import VideoOptions

    return VideoOptions(every=5)


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


def test_cancel_stops_the_run(tmp_path: Path, analyzer: FaceAnalyzer) -> None:
    path = write_video(tmp_path / "v.mp4", [0, 0.1, 0.2], lambda _i: solid((0, 0, 0)))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(VideoCancelledError):
        screentime(path, None, options=_fast(), cancel=cancel, analyzer=analyzer)


# --- tracker ----------------------------------------------------------------------------------
def test_iou_matrix() -> None:
    iou = iou_matrix([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert iou[0] == pytest.approx([1.0, 1 / 3, 0.0])


def test_kalman_learns_the_velocity() -> None:
    kf = KalmanBox([0, 0, 20, 20], 0.0)
    for step in range(1, 6):
        kf.update([10 * step, 0, 10 * step + 20, 20], step * 0.1)
    predicted = kf.predict(0.7)  # two steps on: x1 about 70
    assert predicted[0] == pytest.approx(70, abs=4)


def test_a_moving_face_keeps_one_id_when_boxes_no_longer_overlap_enough() -> None:
    tracker = FaceTracker(iou_threshold=0.3)
    ids = set()
    for step in range(12):  # 12 px per step on a 40 px box: IoU of raw boxes 0.54, then velocity
        x = 12.0 * step * (1 + step / 10)  # accelerating
        found, _ended = tracker.update(step * 0.2, [[x, 10, x + 40, 50]], [1.0])
        ids.add(int(found[0]))
    assert ids == {0}


def test_two_faces_crossing_keep_their_ids() -> None:
    tracker = FaceTracker()
    for step in range(10):
        a = [10 + 8 * step, 10, 50 + 8 * step, 50]
        b = [200 - 8 * step, 100, 240 - 8 * step, 140]
        found, _ = tracker.update(step * 0.1, [b, a] if step % 2 else [a, b], [1.0, 1.0])
        pair = (found[1], found[0]) if step % 2 else (found[0], found[1])
        assert pair == (0, 1)


def test_weak_detections_continue_but_never_start_tracks() -> None:
    tracker = FaceTracker(high_score=0.5)
    found, _ = tracker.update(0.0, [[0, 0, 20, 20]], [0.2])
    assert found.tolist() == [-1] and not tracker.active
    tracker.update(0.1, [[0, 0, 20, 20]], [0.9])
    found, _ = tracker.update(0.2, [[1, 0, 21, 20], [100, 100, 120, 120]], [0.2, 0.2])
    assert found.tolist() == [0, -1]


def test_lost_tracks_end_after_max_lost_seconds() -> None:
    tracker = FaceTracker(max_lost=0.5)
    tracker.update(0.0, [[0, 0, 20, 20]], [1.0])
    _, ended = tracker.update(0.4, [], [])
    assert not ended
    _, ended = tracker.update(0.6, [], [])
    assert [t.id for t in ended] == [0] and not tracker.active


def test_shot_detector_flags_a_cut_not_noise() -> None:
    rng = np.random.default_rng(1)
    shots = ShotDetector()
    red = [
        np.clip(solid((200, 30, 30)) + rng.integers(-10, 10, (48, 64, 3)), 0, 255).astype(np.uint8)
        for _ in range(5)
    ]
    blue = [solid((20, 40, 220))] * 3
    flags = [shots.is_cut(image) for image in red + blue]
    assert flags == [False] * 5 + [True, False, False]


def test_merge_segments() -> None:
    merged = merge_segments(
        [Segment(3, 4), Segment(0, 1), Segment(1.2, 2), Segment(3.5, 5)], gap=0.3
    )
    assert merged == (Segment(0, 2), Segment(3, 5))


# --- runs without faces, CLI errors ------------------------------------------------------------
def test_screentime_of_a_video_without_faces(tmp_path: Path, analyzer: FaceAnalyzer) -> None:
    times = [i / 25 for i in range(50)]
    path = write_video(
        tmp_path / "v.mp4", times, lambda i: solid((0, 0, 0) if i < 25 else (250, 250, 0))
    )
    result = screentime(path, None, options=_fast(), analyzer=analyzer)
    assert result.frames == 50 and result.people == () and result.shots == 2
    assert result.duration == pytest.approx(2.0, abs=0.05)


def test_cli_bad_video_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    result = CliRunner().invoke(
        app, ["video", "screentime", str(bad), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "notes.mp4" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args",
    [["--every", "0"], ["--every", "fast"], ["--cast", "no-equals-sign"]],
    ids=["every-0", "every-word", "cast-malformed"],
)
def test_cli_bad_options(tmp_path: Path, args: list[str]) -> None:
    path = write_video(tmp_path / "v.mp4", [0, 0.1], lambda _i: solid((0, 0, 0)))
    result = CliRunner().invoke(app, ["video", "screentime", str(path), *args])
    assert result.exit_code == 2 and "error" in result.output


def test_cli_find_needs_an_index(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["video", "find", "--index", str(tmp_path / "none"), "Somebody"]
    )
    assert result.exit_code == 2 and "no video index" in result.output


def test_auto_interval_follows_the_measured_cost() -> None:
    from faceprint.video import VideoOptions
    from faceprint.video.screentime import _Schedule

    schedule = _Schedule(
        VideoOptions(every="auto", target_speed=2.0, min_detection_rate=3.0), fps=30.0
    )
    for index in range(20):  # 1 ms per plain frame, 100 ms per detection frame
        detect = schedule.due(index, cut=False)
        schedule.done(index, detect, 0.1 if detect else 0.001)
    # 0.5 s of wall time per video second, 10 % of it kept for the end, 30 ms of the rest
    # decoding: 30 * 0.1 / 0.42 -> every 8th
    assert schedule.every == 8
    slow = _Schedule(VideoOptions(every="auto"), fps=30.0)
    slow.done(0, True, 5.0)
    assert slow.every == slow.max_every == 3  # never fewer than 8 detections per second
    sparse = _Schedule(VideoOptions(every="auto", min_detection_rate=3.0), fps=30.0)
    sparse.done(0, True, 5.0)
    assert sparse.every == 10
    fixed = _Schedule(VideoOptions(every=4), fps=30.0)
    fixed.done(0, True, 5.0)
    assert fixed.every == 4 and fixed.due(4, cut=False) and fixed.due(1, cut=True)


@pytest.mark.parametrize(
    ("live", "since", "rescan", "full"),
    [
        (False, 0.1, 0.5, True),  # no live track (a new shot, an empty scene): search in full
        (True, 0.1, 0.5, False),  # tracks live, searched in full 0.1 s ago: near them only
        (True, 0.5, 0.5, True),  # rescan seconds since the last full search
        (True, math.inf, 0.5, True),  # never searched in full
        (True, 0.0, 0.0, True),  # rescan=0: every detection is a full search
    ],
)
def test_full_search_rule(live: bool, since: float, rescan: float, full: bool) -> None:
    from faceprint.video.screentime import full_search

    assert full_search(live, since, rescan) is full


class _SearchLog(SquareDetector):
    """The fake square detector, logging full searches and the boxes of near ones."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[float, object]] = []

    def detect(self, image: np.ndarray) -> Faces:
        self.log.append((0.0, "full"))
        return super().detect(image)

    def detect_near(self, image: np.ndarray, near: np.ndarray) -> Faces:
        self.log.append((0.0, np.array(near)))
        return super().detect(image)


def _square_video(path: Path) -> Path:
    """2 s at 10 fps: dark blue for 0.5 s (not black: compression noise in black swings the
    hue histogram into a false cut), then a red square moving right 4 px per frame."""

    def paint(i: int) -> np.ndarray:
        image = solid((0, 0, 25), (96, 128))
        if i >= 5:
            x = 10 + 4 * (i - 5)
            image[30:70, x : x + 40] = (200, 60, 60)
        return image

    return write_video(path, [i / 10 for i in range(20)], paint)


def test_between_full_searches_the_detector_searches_near_the_live_tracks(
    tmp_path: Path,
) -> None:
    from faceprint.video import VideoOptions

    path = _square_video(tmp_path / "square.mp4")
    runs = {}
    for rescan in (0.0, 0.5):
        det = _SearchLog()
        fa = FaceAnalyzer("dlib", detector=det, embedder=ColourEmbedder(), max_side=None)
        result = screentime(path, None, analyzer=fa, options=VideoOptions(every=1, rescan=rescan))
        runs[rescan] = (result, [kind for _, kind in det.log])
    every_frame, log = runs[0.0]
    assert every_frame.frames_searched == every_frame.frames_detected == 20
    assert all(isinstance(k, str) for k in log)
    result, log = runs[0.5]
    full = [i for i, k in enumerate(log) if isinstance(k, str)]
    # 0-0.4 s: no face, so no live track; 0.5 s: the face appears (no track yet); then every 0.5 s
    assert full == [0, 1, 2, 3, 4, 5, 10, 15] and result.frames_searched == 8
    for i, near in enumerate(log):
        if not isinstance(near, str):  # the tracks' predicted boxes, the square's first
            assert near.ndim == 2 and near.shape[1] == 4  # (codec ringing makes small others)
            x = 10 + 4 * (i - 5)
            assert abs(near[0, 0] - x) < 6 and abs(near[0, 1] - 30) < 6
    assert [(t.start, t.end, t.detections) for t in result.tracks] == [
        (t.start, t.end, t.detections) for t in every_frame.tracks
    ]


def test_cli_index_reports_a_bad_video_and_goes_on(tmp_path: Path) -> None:
    import json

    good = write_video(
        tmp_path / "good.mp4", [i / 10 for i in range(10)], lambda _i: solid((9, 9, 9))
    )
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 100)
    args = ["video", "index", str(bad), str(good), "--index", str(tmp_path / "idx"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    videos = json.loads(result.stdout)["videos"]
    assert [v["status"] for v in videos] == ["failed", "indexed"]
    assert "bad.mp4" in videos[0]["error"]


def test_unknowns_numbered_by_first_appearance_and_never_two_at_once() -> None:
    from faceprint.video.screentime import unknown_labels

    labels = np.array([4, 7, 4, -1, 4, 7], np.int64)
    spans = [(0, 1), (0.5, 2), (3, 4), (3.5, 5), (3.8, 4.5), (6, 7)]
    # cluster 4's third track overlaps its second: it is somebody else
    assert unknown_labels(labels, spans) == [
        "unknown_1", "unknown_2", "unknown_1", "unknown_3", "unknown_4", "unknown_2",
    ]  # fmt: skip


def test_video_facade_exports_its_public_names() -> None:
    import types

    import faceprint.video as video

    public = {
        n
        for n, v in vars(video).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert set(video.__all__) == public
    assert video.__all__ == sorted(video.__all__)


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("-2+3", "'-2+3"),
        ("\tTab", "'\tTab"),
        ("Zoë", "Zoë"),
        ("unknown_1", "unknown_1"),
    ],
)
def test_timeline_csv_names_never_become_formulas(name: str, cell: str, tmp_path: Path) -> None:
    import csv
    import json

    from faceprint.video.decode import VideoInfo
    from faceprint.video.render import write_timeline_csv, write_timeline_json
    from faceprint.video.types import PersonTime, ScreenTime

    person = PersonTime(name, True, 1.5, 0.5, (Segment(0.5, 2.0),), (0,))
    info = VideoInfo("v.mp4", 64, 48, 0, 25.0, 3.0, 75, "h264")
    result = ScreenTime(info, 3.0, 75, 25, 3, 1, 0, (person,), (), "dlib", 0.9, 1.0, 1.0)
    with write_timeline_csv(result, tmp_path / "t.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1] == [cell, "1", "0.500", "2.000", "1.500"]
    saved = json.loads(write_timeline_json(result, tmp_path / "t.json").read_text())
    assert saved["people"][0]["name"] == name  # JSON keeps the name as it is


def test_cli_screentime_writes_to_the_current_folder_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --out the timeline goes to ./VIDEO.screentime, never beside the input (a
    read-only or shared media folder)."""
    media, work = tmp_path / "media", tmp_path / "work"
    media.mkdir()
    work.mkdir()
    path = write_video(media / "v.mp4", [0, 0.1, 0.2], lambda _i: solid((0, 0, 0)))
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["video", "screentime", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert (work / "v.mp4.screentime" / "screentime.json").is_file()
    assert sorted(p.name for p in media.iterdir()) == ["v.mp4"]
