"""Video screen time: speed, accuracy against hand labels, and memory on a long video.

    python benchmarks/bench_video.py speed    [--every auto|N] [--max-side N] [--rescan S]
                                              [--target-speed X] [--min-detection-rate R]
                                              [--breakdown] [--json]
    python benchmarks/bench_video.py accuracy [--every auto|N] [--json]
    python benchmarks/bench_video.py memory   [--minutes 10] [--every N] [--json]
    python benchmarks/bench_video.py near     [--near-tile-below PX] [--json]

speed: frames/s and real-time factor (video seconds per wall second, and per CPU second of
this process) on ``video/short_hamilton_clip.mp4`` and ``video/crowd_walking.mp4``, with the
work done: frames detected on, of those searched in full (``--rescan 0``: all of them, as
before near searches), face detections kept in tracks, and faces embedded. ``--breakdown``
adds the CPU seconds and calls of each stage (timed by wrapping it: a little overhead).
accuracy: the cast enrolled from ``lin-manuel-miranda.png``, ``alex-lacamoire.png`` and
``obama.jpg``; per person the screen-time error (seconds) and per-second precision/recall
against ``tests/data/video_labels/*.json`` (a person counts in a second when on screen for at
least half of it, in the labels and in the prediction alike); "false names" counts the seconds
a cast name was given while that person was not on screen.
near: the Hamilton clip with only Lin-Manuel Miranda's photo as cast, at every 2nd, 3rd and 6th
frame, with every detection a full search (``rescan`` 0) and with near searches (the default):
BlazeFace runs, whether the tracks are the same (label, status, shot, times, detections), the
least cosine between a track's embedding in both runs, and the highest similarity between the
profile close-up (tracks starting 1.5-2.4 s) and the audience (from 7.8 s), which must stay under
the clustering threshold (0.937) or the two join one unknown_N.
memory: loops the Hamilton clip (stream copy with PyAV, no re-encoding) into a video of
``--minutes`` under /tmp and samples the resident set size while it is processed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import av

from faceprint.detect.blazeface import BlazeFaceDetector
from faceprint.pipeline import FaceAnalyzer
from faceprint.video import Segment, VideoOptions, cast_gallery, screentime

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEPRINT_DATA", ROOT.parent / "shared" / "data"))
LABELS = ROOT / "tests" / "data" / "video_labels"
PHOTOS = DATA / "photos" / "face_recognition"
CAST = {
    "Lin-Manuel Miranda": PHOTOS / "lin-manuel-miranda.png",
    "Alex Lacamoire": PHOTOS / "alex-lacamoire.png",
    "Barack Obama": PHOTOS / "obama.jpg",
}
VIDEOS = ("short_hamilton_clip", "crowd_walking")


def _every(value: str) -> int | str:
    return value if value == "auto" else int(value)


def _options(args: argparse.Namespace) -> VideoOptions:
    return VideoOptions(
        every=args.every,
        rescan=args.rescan,
        target_speed=args.target_speed,
        min_detection_rate=args.min_detection_rate,
    )


def _count_views(fa: FaceAnalyzer) -> list[int]:
    """A counter of BlazeFace's network runs (the whole frame and each tile searched), kept
    by wrapping the analyzer's detector; stays 0 for other detectors."""
    inner = getattr(fa.detector, "detector", fa.detector)
    counter = [0]
    if isinstance(inner, BlazeFaceDetector):
        search = inner._candidates

        def counted(*a: Any, **k: Any) -> Any:
            counter[0] += 1
            return search(*a, **k)

        setattr(inner, "_candidates", counted)  # noqa: B010 (an instance attribute, on purpose)
    return counter


#: stages timed by ``--breakdown``: (row key, module, class or None, function name)
STAGES = (
    ("detector_net", "faceprint.detect.blazeface", "BlazeFaceDetector", "_candidates"),
    ("landmarks_68", "faceprint.detect.refine", "Dlib68Refined", "_refine"),
    ("detect_all", "faceprint.pipeline", "FaceAnalyzer", "_search"),
    ("frame_to_rgb", "faceprint.video.decode", "Frame", "rgb"),
    ("frame_small", "faceprint.video.decode", "Frame", "small"),
    ("tracker", "faceprint.video.track", "FaceTracker", "update"),
    ("quality", "faceprint.video.screentime", None, "_quality_parts"),
    ("align", "faceprint.pipeline", "FaceAnalyzer", "align"),
    ("embed", "faceprint.pipeline", "FaceAnalyzer", "embed_crops"),
)


def _time_stages() -> dict[str, list[float]]:
    """Wraps each of :data:`STAGES` to add its CPU seconds and calls to the returned dict."""
    import importlib

    spent: dict[str, list[float]] = {key: [0.0, 0] for key, *_ in STAGES}
    for key, module, cls, name in STAGES:
        owner = importlib.import_module(module)
        owner = getattr(owner, cls) if cls else owner
        inner = getattr(owner, name)

        def timed(*a: Any, _inner: Any = inner, _key: str = key, **k: Any) -> Any:
            began = time.process_time()
            try:
                return _inner(*a, **k)
            finally:
                spent[_key][0] += time.process_time() - began
                spent[_key][1] += 1

        setattr(owner, name, timed)
    return spent


def speed(args: argparse.Namespace) -> list[dict[str, Any]]:
    spent = _time_stages() if args.breakdown else {}
    fa = FaceAnalyzer(args.pack, max_side=args.max_side)
    views = _count_views(fa)
    rows = []
    with cast_gallery({k: str(v) for k, v in CAST.items()}, fa) as gallery:
        for name in VIDEOS:
            views[0] = 0
            for entry in spent.values():
                entry[:] = [0.0, 0]
            result = screentime(
                DATA / "video" / f"{name}.mp4",
                gallery,
                analyzer=fa,
                options=_options(args),
            )
            rows.append(
                {
                    "video": name,
                    "size": f"{result.video.width}x{result.video.height}",
                    "video_s": round(result.duration, 2),
                    "frames": result.frames,
                    "every_used": result.every,
                    "detected": result.frames_detected,
                    "full_searches": result.frames_searched,
                    "blazeface_runs": views[0],
                    "faces": sum(t.detections for t in result.tracks),
                    "embedded": sum(t.faces_embedded for t in result.tracks),
                    "target_speed": args.target_speed,
                    "rescan": args.rescan,
                    "max_side": args.max_side,
                    "wall_s": round(result.seconds, 2),
                    "cpu_s": round(result.cpu_seconds, 2),
                    "fps_wall": round(result.frames / result.seconds, 1),
                    "rtf_wall": round(result.realtime_factor, 2),
                    "rtf_cpu": round(result.duration / max(result.cpu_seconds, 1e-9), 2),
                }
            )
            for key, (cpu, calls) in spent.items():
                rows[-1][f"{key}_cpu_s"] = f"{cpu:.3f}/{int(calls)}calls"
    return rows


def near(args: argparse.Namespace) -> list[dict[str, Any]]:
    options = {"near_tile_below": args.near_tile_below} if args.near_tile_below >= 0 else {}
    fa = FaceAnalyzer(args.pack, max_side=args.max_side, detector_options=options)
    views = _count_views(fa)
    clip = DATA / "video" / "short_hamilton_clip.mp4"
    cast = {"Lin-Manuel Miranda": str(CAST["Lin-Manuel Miranda"])}
    rows = []
    with cast_gallery(cast, fa) as gallery:
        for every in (2, 3, 6):
            runs = {}
            for rescan in (0.0, VideoOptions.rescan):
                views[0] = 0
                opts = VideoOptions(every=every, rescan=rescan)
                runs[rescan] = (screentime(clip, gallery, analyzer=fa, options=opts), views[0])
            (full, full_runs), (near, near_runs) = runs.values()
            same = [_row(t) for t in full.tracks] == [_row(t) for t in near.tracks]
            cosines = [
                float(a.embedding @ b.embedding)
                for a, b in zip(full.tracks, near.tracks)
                if a.embedding is not None and b.embedding is not None
            ]
            rows.append(
                {
                    "every": every,
                    "blazeface_runs_full": full_runs,
                    "blazeface_runs_near": near_runs,
                    "same_tracks": same,
                    "least_cosine": round(min(cosines), 4) if same and cosines else None,
                    "profile_audience_full": _profile_audience(full),
                    "profile_audience_near": _profile_audience(near),
                }
            )
    return rows


def _row(track: Any) -> tuple[Any, ...]:
    return (track.label, track.status, track.shot, track.start, track.end, track.detections)


def _profile_audience(result: Any) -> float | None:
    judged = [t for t in result.tracks if t.embedding is not None and t.label is not None]
    profile = [t for t in judged if 1.5 <= t.start < 2.4]
    audience = [t for t in judged if t.start >= 7.8]
    sims = [float(p.embedding @ a.embedding) for p in profile for a in audience]
    return round(max(sims), 4) if sims else None


def _per_second(segments: list[Segment], duration: float) -> list[bool]:
    out = []
    for s in range(int(duration) + (1 if duration % 1 >= 0.5 else 0)):
        lo, hi = float(s), min(s + 1.0, duration)
        on = sum(max(0.0, min(hi, g.end) - max(lo, g.start)) for g in segments)
        out.append(on >= 0.5 * (hi - lo))
    return out


def accuracy(args: argparse.Namespace) -> list[dict[str, Any]]:
    fa = FaceAnalyzer(args.pack, max_side=args.max_side)
    rows = []
    with cast_gallery({k: str(v) for k, v in CAST.items()}, fa) as gallery:
        for name in VIDEOS:
            labels = json.loads((LABELS / f"{name}.json").read_text())
            result = screentime(
                DATA / "video" / f"{name}.mp4",
                gallery,
                analyzer=fa,
                options=_options(args),
            )
            duration = float(labels["duration"])
            for person in CAST:
                truth = [Segment(a, b) for a, b in labels["people"].get(person, [])]
                found = result.person(person)
                pred = list(found.segments) if found else []
                t, p = _per_second(truth, duration), _per_second(pred, duration)
                tp = sum(a and b for a, b in zip(t, p))
                fp = sum(b and not a for a, b in zip(t, p))
                fn = sum(a and not b for a, b in zip(t, p))
                rows.append(
                    {
                        "video": name,
                        "person": person,
                        "true_s": round(sum(s.duration for s in truth), 2),
                        "found_s": round(sum(s.duration for s in pred), 2),
                        "error_s": round(
                            sum(s.duration for s in pred) - sum(s.duration for s in truth), 2
                        ),
                        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
                        "false_name_seconds": fp,
                    }
                )
            unknown = [p.name for p in result.people if not p.known]
            rows.append(
                {
                    "video": name,
                    "person": "(unknown_N)",
                    "names": unknown,
                    "every_used": result.every,
                }
            )
    return rows


def loop_video(source: Path, target: Path, minutes: float) -> Path:
    """``source`` repeated (packets copied, timestamps shifted) until ``minutes`` long."""
    with av.open(str(source)) as probe:
        stream = probe.streams.video[0]
        span = float(probe.duration / av.time_base) if probe.duration else 10.0
    rounds = max(1, int(minutes * 60 / span + 0.999))
    with av.open(str(target), "w", format="mp4") as out:
        ostream = None
        offset = 0
        for _ in range(rounds):
            with av.open(str(source)) as src:
                stream = src.streams.video[0]
                if ostream is None:
                    ostream = out.add_stream_from_template(stream)
                last = 0
                for packet in src.demux(stream):
                    if packet.dts is None:
                        continue
                    last = max(last, int(packet.pts or 0) + int(packet.duration or 0))
                    packet.pts = (packet.pts or 0) + offset
                    packet.dts = packet.dts + offset
                    packet.stream = ostream
                    out.mux(packet)
                offset += last
    return target


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    target = Path(tempfile.gettempdir()) / f"faceprint_loop_{args.minutes:g}min.mp4"
    if not target.exists():
        loop_video(DATA / "video" / "short_hamilton_clip.mp4", target, args.minutes)
    samples: list[tuple[float, float]] = []  # (fraction done, RSS MB)
    state = {"done": 0, "total": 1}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append((state["done"] / max(state["total"], 1), _rss_mb()))

    def progress(done: int, total: int) -> None:
        state["done"], state["total"] = done, total

    fa = FaceAnalyzer(args.pack, max_side=args.max_side)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = screentime(target, {k: str(v) for k, v in CAST.items()}, analyzer=fa,
                        options=_options(args), progress=progress)  # fmt: skip
    stop.set()
    sampler.join()
    rows = []
    for lo in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9):
        window = [mb for f, mb in samples if lo <= f < lo + 0.1]
        if window:
            rows.append(
                {"progress": f"{lo:.0%}-{lo + 0.1:.0%}", "rss_mb_max": round(max(window), 1)}
            )
    rows.append(
        {
            "video_min": round(result.duration / 60, 2),
            "frames": result.frames,
            "tracks": len(result.tracks),
            "peak_rss_mb": round(max(mb for _, mb in samples), 1) if samples else None,
            "wall_s": round(result.seconds, 1),
            "cpu_s": round(result.cpu_seconds, 1),
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("speed", "accuracy", "memory", "near"))
    parser.add_argument("--every", type=_every, default="auto")
    parser.add_argument("--max-side", type=int, default=2048)
    parser.add_argument("--rescan", type=float, default=VideoOptions.rescan)
    parser.add_argument("--target-speed", type=float, default=VideoOptions.target_speed)
    parser.add_argument("--min-detection-rate", type=float, default=VideoOptions.min_detection_rate)
    parser.add_argument("--pack", default="dlib")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--breakdown", action="store_true")
    parser.add_argument("--near-tile-below", type=float, default=-1, help="-1: the default")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (DATA / "video").is_dir():
        sys.exit(f"data not found at {DATA} (set FACEPRINT_DATA)")
    started = time.perf_counter()
    what = {"speed": speed, "accuracy": accuracy, "memory": memory, "near": near}
    rows = what[args.what](args)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    print(f"({time.perf_counter() - started:.1f} s, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
