"""How large may an image be before detection runs on a downscaled copy? (FaceAnalyzer.max_side)

Recall and detection time of the default pack's detector (dlib HOG, upsample 1) for several
``max_side`` values, on three sets of real faces:

* **annotated**: the 43 hand-annotated faces of ``photos/dlib_faces/{training,testing}.xml``
  (PASCAL VOC photos of about 500×375, faces 37–109 px), matched by IoU ≥ ``--iou``;
* **full-size photos**: the shared single- and group photos (600–2,200 px); the reference faces
  are the ones found at full resolution (``max_side=None``);
* each set again **upscaled to a 12 MP camera size** (longer side 4,000 px, ``INTER_CUBIC``), and
  a **12 MP canvas** holding the annotated photos at their own scale (43 faces of 37–109 px in a
  4000×3000 frame: a crowd photo's small faces).

Detection time is per image, ``FaceAnalyzer.detect`` (downscaling included), wall and CPU seconds
of this process (dlib's HOG is single-threaded). dlib upsamples every image once (upsample=1)
before its 80×80 sliding window, so the smallest face found is about 40 px in the detector's
input: ``40 × longer side / max_side`` px in the original.

    python benchmarks/bench_max_side.py --data ../shared/data
    python benchmarks/bench_max_side.py --data ../shared/data --max-sides none 1024 2048
"""

from __future__ import annotations

import argparse
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.imageio import load_image
from faceprint.pipeline import FaceAnalyzer

Boxes = npt.NDArray[np.float32]
FULL_SIZE = (
    "photos/dlib_faces/bald_guys.jpg",
    "photos/dlib_faces/dogs.jpg",
    "photos/facenet_pytorch/multiface.jpg",
    "photos/face_recognition/two_people.jpg",
    "photos/face_recognition/biden.jpg",
    "photos/face_recognition/obama-1080p.jpg",
    "photos/face_recognition/knn_examples/test/obama_and_biden.jpg",
    "photos/face_recognition/knn_examples/test/kit_with_rose.jpg",
    "photos/face_recognition/knn_examples/test/johnsnow_test1.jpg",
    "photos/face_recognition/knn_examples/test/alex_lacamoire1.jpg",
    "photos/face_recognition/knn_examples/test/obama1.jpg",
)
CAMERA_SIDE = 4000


@dataclass(frozen=True, eq=False)
class Sample:
    """One test image and its reference faces (x1, y1, x2, y2 in its pixels)."""

    name: str
    rgb: npt.NDArray[np.uint8]
    truth: Boxes


def annotated(folder: Path) -> list[Sample]:
    """The PASCAL photos with their hand-annotated boxes."""
    samples = []
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(folder / xml).getroot().iter("image"):
            boxes = [
                [int(b.get(k, 0)) for k in ("left", "top", "width", "height")]
                for b in image.iter("box")
            ]
            truth = np.array([(x, y, x + w, y + h) for x, y, w, h in boxes], np.float32)
            name = image.get("file", "")
            samples.append(Sample(name, load_image(folder / name), truth))
    return samples


def iou(a: Boxes, b: Boxes) -> npt.NDArray[np.float64]:
    """(len(a), len(b)) intersection over union."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = (a[:, 2:] - a[:, :2]).prod(-1)
    barea = (b[:, 2:] - b[:, :2]).prod(-1)
    return np.asarray(inter / (area[:, None] + barea[None] - inter), np.float64)


def matched(truth: Boxes, found: Boxes, threshold: float) -> int:
    """Reference faces with a detection of IoU >= threshold (greedy one-to-one)."""
    if len(truth) == 0 or len(found) == 0:
        return 0
    m = iou(truth, found)
    hits = 0
    for _ in range(min(m.shape)):
        i, j = np.unravel_index(np.argmax(m), m.shape)
        if m[i, j] < threshold:
            break
        hits += 1
        m[i, :], m[:, j] = -1, -1
    return hits


def upscaled(sample: Sample, side: int = CAMERA_SIDE) -> Sample:
    """``sample`` enlarged so that its longer side is ``side`` (bicubic), boxes scaled."""
    h, w = sample.rgb.shape[:2]
    k = side / max(h, w)
    size = (round(w * k), round(h * k))
    rgb = cv2.resize(sample.rgb, size, interpolation=cv2.INTER_CUBIC)
    return Sample(f"{sample.name} ×{k:.1f}", rgb, sample.truth * k)


def canvas(samples: list[Sample], shape: tuple[int, int] = (3000, 4000)) -> Sample:
    """The samples at their own scale on a grey ``shape`` canvas, in a grid (boxes moved)."""
    out = np.full((*shape, 3), 128, np.uint8)
    boxes, x, y, row = [], 0, 0, 0
    for s in samples:
        h, w = s.rgb.shape[:2]
        if x + w > shape[1]:
            x, y, row = 0, y + row, 0
        out[y : y + h, x : x + w] = s.rgb
        boxes.append(s.truth + np.array([x, y, x, y], np.float32))
        x, row = x + w, max(row, h)
    return Sample("12 MP canvas", out, np.concatenate(boxes))


def full_size(data: Path, reference: FaceAnalyzer) -> list[Sample]:
    """The shared full-size photos; reference faces = the detector at full resolution."""
    out = []
    for rel in FULL_SIZE:
        rgb = load_image(data / rel)
        out.append(Sample(Path(rel).name, rgb, reference.detect(rgb).boxes))
    return out


def measure(
    analyzer: FaceAnalyzer, samples: list[Sample], threshold: float
) -> tuple[int, int, float, float, float]:
    """(faces found, reference faces, mean wall s, mean CPU s, max wall s) over ``samples``."""
    hits = total = 0
    walls, cpus = [], []
    for s in samples:
        wall, cpu = time.perf_counter(), time.process_time()
        found = analyzer.detect(s.rgb)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        hits += matched(s.truth, found.boxes, threshold)
        total += len(s.truth)
    return hits, total, float(np.mean(walls)), float(np.mean(cpus)), float(np.max(walls))


def _side(value: str) -> int | None:
    return None if value.lower() == "none" else int(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument(
        "--max-sides", nargs="+", type=_side, default=[None, 1024, 1280, 1600, 2048, 2560]
    )
    ap.add_argument("--iou", type=float, default=0.4, help="IoU for a match")
    args = ap.parse_args()
    analyzers = {m: FaceAnalyzer("dlib", max_side=m) for m in args.max_sides}
    reference = analyzers.get(None) or FaceAnalyzer("dlib", max_side=None)
    pascal = annotated(args.data / "photos/dlib_faces")
    photos = full_size(args.data, reference)
    sets = {
        "annotated (43 faces, ~500 px)": pascal,
        "annotated ×8 (12 MP)": [upscaled(s) for s in pascal],
        "12 MP canvas, faces 37–109 px": [canvas(pascal)],
        f"full-size photos ({sum(len(s.truth) for s in photos)} faces, 600–2200 px)": photos,
        "full-size photos → 4000 px (12 MP)": [upscaled(s) for s in photos],
    }
    print("| image set | max_side | faces found | mean wall s | mean CPU s | max wall s |")
    print("|---|---|---|---|---|---|")
    for label, samples in sets.items():
        for side, analyzer in analyzers.items():
            hits, total, wall, cpu, worst = measure(analyzer, samples, args.iou)
            print(
                f"| {label} | {side} | {hits}/{total} | {wall:.3f} | {cpu:.3f} | {worst:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
