"""Fit the second-pass calibration of the default pack: the first pass's 68 points → the box
dlib's HOG detector would draw, where dlib's 68-point shape predictor then runs again.

The first pass (:class:`faceprint.detect.refine.Dlib68Refined` with the box calibration of
``benchmarks/fit_box_calibration.py``) places the predictor in a box estimated from BlazeFace's
six keypoints; its 68 points say far more about where HOG's box would be. Training data: LFW
View 1's training people only (``peopleDevTrain.txt``, the same 3000 images and the same
matching of HOG and BlazeFace faces as ``fit_box_calibration.py``). The model is linear least
squares in the frame of the 68 points (centre ``c``: their mean; scale ``s``: their RMS distance
to it): features :func:`faceprint.detect.refine.landmark_features`, targets ``((hog centre − c)
/ s, log(hog side / s))``. Residuals are reported on a held-out fifth of those training images
too (split by person). The printed matrix is :data:`faceprint.detect.refine.LANDMARKS_TO_HOG`.

    FACEPRINT_DATA=../shared/data python benchmarks/fit_landmark_calibration.py [--images 3000]
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from faceprint import get_pack, load_image
from faceprint.detect.refine import calibrated_boxes, landmark_features, landmark_frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_box_calibration import train_images


def collect(paths: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shapes (M, 68, 2), HOG boxes (M, 4), image index (M,)) of the matched faces."""
    hog = get_pack("dlib").create_detector()
    refined = get_pack("dlib-blazeface").create_detector(threads=1)
    shapes, boxes, where = [], [], []
    for i, path in enumerate(paths):
        img = np.ascontiguousarray(load_image(path))
        h, b = hog.detect(img), refined.detector.detect(img)
        for hb in h.boxes:
            hc = (hb[:2] + hb[2:]) / 2
            for bb, pts in zip(b.boxes, b.landmarks):
                bc = (bb[:2] + bb[2:]) / 2
                if np.all((hc >= bb[:2]) & (hc <= bb[2:])) and np.all(
                    (bc >= hb[:2]) & (bc <= hb[2:])
                ):
                    first = calibrated_boxes(bb[None], pts[None], refined.coef)
                    shapes.append(refined.shapes(img, first)[0])
                    boxes.append(hb)
                    where.append(i)
    return np.asarray(shapes), np.asarray(boxes, np.float64), np.asarray(where)


def targets(shapes: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    c, s = landmark_frame(shapes)
    hc = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = np.sqrt(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1))
    return np.concatenate([(hc - c) / s[:, None], np.log(side / s)[:, None]], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--cache", type=Path, help="keep the collected faces in this .npz")
    args = parser.parse_args()
    paths = train_images(args.images)
    if args.cache and args.cache.is_file():
        data = np.load(args.cache)
        shapes, boxes, where = data["shapes"], data["boxes"], data["where"]
    else:
        shapes, boxes, where = collect(paths)
        if args.cache:
            np.savez(args.cache, shapes=shapes, boxes=boxes, where=where)
    x, y = landmark_features(shapes), targets(shapes, boxes)
    people = np.array([zlib.crc32(paths[i].parent.name.encode()) % 5 for i in where])
    held = people == 0
    coef, *_ = np.linalg.lstsq(x[~held], y[~held], rcond=None)
    print(f"{len(x)} faces; held-out {held.sum()} (people of 1 fold in 5)")
    print(
        f"held-out residual std (centre x, centre y, log side): {(y - x @ coef)[held].std(0).round(4)}"
    )
    print(f"held-out std without the points: {(y[held] - y[~held].mean(0)).std(0).round(4)}")
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    print(f"all: residual std {(y - x @ coef).std(0).round(4)}")
    print("LANDMARKS_TO_HOG = (")
    for row in coef:
        print("    (" + ", ".join(f"{v:.5f}" for v in row) + "),")
    print(")")


if __name__ == "__main__":
    main()
