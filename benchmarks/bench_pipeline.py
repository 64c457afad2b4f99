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
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from faceprint import FaceAnalyzer, load_image


def lfw_sample(root: Path, n: int) -> list[Path]:
    people = sorted(p for p in (root / "lfw" / "images_deepfunneled").iterdir() if p.is_dir())
    return [sorted(p.glob("*.jpg"))[0] for p in people[:n]]


def median_ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 2) if values else float("nan")


def bench_faceprint(images: list, pack: str) -> dict[str, float]:
    fa = FaceAnalyzer(pack, embedder_options={"batch_size": 1})
    det, emb, total, faces_total = [], [], [], 0
    for img in images:
        t0 = time.perf_counter()
        faces = fa.detector.detect(img)  # includes the landmark stage
        t1 = time.perf_counter()
        det.append(t1 - t0)
        if len(faces):
            fa.embedder.embed(fa.align(img, faces))  # alignment + embedding
            emb.append((time.perf_counter() - t1) / len(faces))
            faces_total += len(faces)
        total.append(time.perf_counter() - t0)
    return summary(det, emb, total, faces_total)


def summary(det: list[float], emb: list[float], total: list[float], faces: int) -> dict[str, float]:
    return {
        "detect_ms_per_image": median_ms(det),
        "embed_ms_per_face": median_ms(emb),
        "total_ms_per_image": median_ms(total),
        "faces": faces,
    }


def bench_face_recognition(images: list) -> dict[str, float] | None:
    try:
        import face_recognition
    except ImportError:
        return None
    det, emb, total, faces_total = [], [], [], 0
    for img in images:
        t0 = time.perf_counter()
        boxes = face_recognition.face_locations(img, number_of_times_to_upsample=1)
        t1 = time.perf_counter()
        det.append(t1 - t0)
        if boxes:
            face_recognition.face_encodings(img, boxes)  # landmarks + chip + embedding
            emb.append((time.perf_counter() - t1) / len(boxes))
            faces_total += len(boxes)
        total.append(time.perf_counter() - t0)
    return summary(det, emb, total, faces_total)


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
    results = {"images": len(images), "faceprint": bench_faceprint(images, args.pack)}
    results["face_recognition"] = bench_face_recognition(images)
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
