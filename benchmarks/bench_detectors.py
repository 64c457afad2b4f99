"""Detector recall on dlib's 43 hand-annotated faces, false detections on negatives, speed.

For every detector: recall on the faces of ``photos/dlib_faces/{training,testing}.xml`` (9 PASCAL
VOC photos, 43 faces), the detections left unmatched in those photos, the detections in each
image of ``negatives/`` (none is a face), and the median detection time per annotated image on
one thread. Also times SCRFD-500M on one 640×480 image (one thread).

Matching rule (dlib's boxes are tight squares from the brows to the lips; other detectors draw
boxes from the forehead to the chin, so IoU ≥ 0.5 can undercount them): detections and
annotations are matched greedily, largest IoU first, each used once, when IoU ≥ 0.3 **and** the
annotated box's centre lies inside the detection. Counts at plain IoU ≥ 0.5 are reported too.

    --options '{"score_threshold": 0.9}'   overrides options of the ONNX detectors
    --options '{"tiles": 1}'               e.g. BlazeFace (the default pack's, shipped) untiled

``blazeface`` is the default pack's detector as the pipeline runs it (tiles, 68-point refinement).

    FACEPRINT_DATA=../shared/data python benchmarks/bench_detectors.py [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np

from faceprint import get_pack, load_image
from faceprint.align import ARCFACE_112
from faceprint.detect.base import Detector
from faceprint.packs import PackSpec

cv2.setNumThreads(1)
DATA = Path(
    os.environ.get("FACEPRINT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
MODELS = DATA / "models"

#: name → (backend, model file relative to models/)
ONNX_DETECTORS = {
    "scrfd-500m": ("scrfd", "scrfd/scrfd_500m_bnkps.onnx"),
    "scrfd-2.5g": ("scrfd", "scrfd/scrfd_2.5g_bnkps.onnx"),
    "retinaface-mnet0.25": ("retinaface", "retinaface/retinaface_mbnet0.25.onnx"),
    "yunet-2023mar": ("yunet", "yunet/face_detection_yunet_2023mar.onnx"),
    "yunet-n-dynamic": ("yunet", "yunet/yunet_n_dynamic.onnx"),
}

#: name → pack whose detector ships inside faceprint
PACKAGED = {"blazeface": "dlib-blazeface"}


def onnx_pack(backend: str, file: str) -> PackSpec:
    return PackSpec(
        name=f"bench-{backend}",
        detector=backend,
        embedder="arcface-onnx",
        dim=0,
        threshold=0.0,
        crop=ARCFACE_112,
        licence="test fixture",
        files={"detector": MODELS / file},
    )


def make_detector(name: str, **options: Any) -> Detector:
    if name == "dlib-hog":
        return get_pack("dlib").create_detector()
    if name == "dlib-cnn":
        return replace(get_pack("dlib"), detector="dlib-cnn").create_detector()
    if name in PACKAGED:
        return get_pack(PACKAGED[name]).create_detector(**{"threads": 1, **options})
    backend, file = ONNX_DETECTORS[name]
    return onnx_pack(backend, file).create_detector(**{"threads": 1, **options})


def annotated_faces() -> list[tuple[Path, np.ndarray]]:
    out = []
    folder = DATA / "photos" / "dlib_faces"
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(folder / xml).getroot().iter("image"):
            boxes = [
                [float(b.get(k, 0)) for k in ("left", "top", "width", "height")]
                for b in image.iter("box")
            ]
            xywh = np.array(boxes, np.float32).reshape(-1, 4)
            out.append(
                (folder / image.get("file", ""), np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
            )
    return out


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of x1, y1, x2, y2 boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def match(gt: np.ndarray, det: np.ndarray, min_iou: float, centre: bool) -> int:
    """Number of annotated boxes matched one-to-one (greedy by IoU)."""
    if len(gt) == 0 or len(det) == 0:
        return 0
    m = iou(gt, det)
    if centre:
        c = (gt[:, None, :2] + gt[:, None, 2:]) / 2
        inside = np.all((c >= det[None, :, :2]) & (c <= det[None, :, 2:]), axis=2)
        m = np.where(inside, m, 0)
    hits, used_g, used_d = 0, set(), set()
    for flat in np.argsort(-m, axis=None):
        g, d = np.unravel_index(flat, m.shape)
        if m[g, d] < min_iou:
            break
        if g not in used_g and d not in used_d:
            used_g.add(g)
            used_d.add(d)
            hits += 1
    return hits


def evaluate(name: str, options: dict[str, Any]) -> dict[str, Any]:
    det = make_detector(name, **options)
    found = matched = matched50 = total = 0
    times, misses = [], []
    for path, gt in annotated_faces():
        img = load_image(path)
        det.detect(img)  # warm-up (first call allocates)
        t0 = time.perf_counter()
        faces = det.detect(img)
        times.append(time.perf_counter() - t0)
        hit = match(gt, faces.boxes, 0.3, centre=True)
        matched += hit
        matched50 += match(gt, faces.boxes, 0.5, centre=False)
        found += len(faces)
        total += len(gt)
        if hit < len(gt):
            misses.append(f"{path.name}: {len(gt) - hit} missed")
    negatives = {}
    for path in sorted((DATA / "negatives").iterdir()):
        n = len(det.detect(load_image(path)))
        if n:
            negatives[path.name] = n
    return {
        "detector": name,
        "options": options,
        "recall": f"{matched}/{total}",
        "recall_iou50": f"{matched50}/{total}",
        "unmatched_detections": found - matched,
        "misses": misses,
        "negatives_false_detections": sum(negatives.values()),
        "negatives_by_image": negatives,
        "median_ms_per_image": round(1000 * statistics.median(times), 1),
    }


def time_scrfd_640x480(repeats: int = 50) -> dict[str, float]:
    det = make_detector("scrfd-500m")
    photo = load_image(DATA / "photos" / "face_recognition" / "obama-480p.jpg")
    img = np.ascontiguousarray(cv2.resize(photo, (640, 480)), dtype=np.uint8)
    det.detect(img)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        det.detect(img)
        times.append(time.perf_counter() - t0)
    return {
        "median_ms": round(1000 * statistics.median(times), 2),
        "min_ms": round(1000 * min(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--detectors", nargs="*", default=["dlib-hog", "dlib-cnn", *PACKAGED, *ONNX_DETECTORS]
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--options", type=json.loads, default={}, help="ONNX detector options")
    parser.add_argument("--no-timing", action="store_true", help="skip the 640x480 timing")
    args = parser.parse_args()
    results = []
    for name in args.detectors:
        r = evaluate(name, args.options)
        results.append(r)
        print(json.dumps(r), flush=True)
    scrfd = {} if args.no_timing else time_scrfd_640x480()
    print(json.dumps({"scrfd-500m 640x480 one thread": scrfd}), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"detectors": results, "scrfd_640x480": scrfd}, indent=2))


if __name__ == "__main__":
    main()
