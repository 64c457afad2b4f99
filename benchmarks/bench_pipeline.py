"""Median per-image detection time and per-face embedding time on LFW images.

faceprint's default pack against ageitgey/face_recognition's pipeline (the same dlib models) on
the same images, in the same run, one thread each. face_recognition is installed with
``pip install --no-deps face_recognition``; it is skipped with a note when absent.

    python benchmarks/bench_pipeline.py --n 200 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from faceprint import FaceAnalyzer, load_image


def lfw_sample(root: Path, n: int) -> list[Path]:
    people = sorted(p for p in (root / "lfw" / "images_deepfunneled").iterdir() if p.is_dir())
    return [sorted(p.glob("*.jpg"))[0] for p in people[:n]]


def median_ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 2) if values else float("nan")


def faceprint_runner(pack: str) -> Callable[[np.ndarray], tuple[float, float, int]]:
    fa = FaceAnalyzer(pack, embedder_options={"batch_size": 1, "threads": 1})

    def run(img: np.ndarray) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        faces = fa.detector.detect(img)  # includes the landmark stage
        t1 = time.perf_counter()
        if len(faces):
            fa.embedder.embed(fa.align(img, faces))  # alignment + embedding
        return t1 - t0, time.perf_counter() - t1, len(faces)

    return run


def face_recognition_runner() -> Callable[[np.ndarray], tuple[float, float, int]] | None:
    try:
        import face_recognition
    except ImportError:
        return None

    def run(img: np.ndarray) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        boxes = face_recognition.face_locations(img, number_of_times_to_upsample=1)
        t1 = time.perf_counter()
        if boxes:
            face_recognition.face_encodings(img, boxes)  # landmarks + chip + embedding
        return t1 - t0, time.perf_counter() - t1, len(boxes)

    return run


def summary(rows: list[tuple[float, float, int]]) -> dict[str, float]:
    det = [d for d, _, _ in rows]
    emb = [e / n for _, e, n in rows if n]
    return {
        "detect_ms_per_image": median_ms(det),
        "embed_ms_per_face": median_ms(emb),
        "total_ms_per_image": median_ms([d + e for d, e, _ in rows]),
        "faces": sum(n for _, _, n in rows),
    }


def bench(images: list[np.ndarray], pack: str) -> dict[str, dict[str, float] | None]:
    """Both pipelines on each image in turn, so machine noise hits both alike."""
    runners = {"faceprint": faceprint_runner(pack), "face_recognition": face_recognition_runner()}
    rows: dict[str, list[tuple[float, float, int]]] = {name: [] for name in runners}
    for img in images:
        for name, run in runners.items():
            if run is not None:
                rows[name].append(run(img))
    return {name: summary(rows[name]) if runners[name] else None for name in runners}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("FACEPRINT_DATA", "../shared/data"))
    )
    ap.add_argument("--n", type=int, default=200, help="number of LFW images (one per person)")
    ap.add_argument("--pack", default="dlib")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    images = [load_image(p) for p in lfw_sample(args.data, args.n)]
    results: dict[str, Any] = {"images": len(images), **bench(images, args.pack)}
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return 0
    print(f"{len(images)} LFW images, one thread")
    print(
        f"{'pipeline':<18}{'detect ms/image':>18}{'embed ms/face':>16}{'total ms/image':>16}{'faces':>8}"
    )
    for name in ("faceprint", "face_recognition"):
        r = results[name]
        if r is None:
            print(f"{name:<18}  (not installed: pip install --no-deps face_recognition)")
            continue
        print(
            f"{name:<18}{r['detect_ms_per_image']:>18}{r['embed_ms_per_face']:>16}"
            f"{r['total_ms_per_image']:>16}{r['faces']:>8}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
