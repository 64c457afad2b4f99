"""Fit the box calibration of the default pack: BlazeFace's box and keypoints → the box dlib's
HOG detector would draw, which is what dlib's 68-point shape predictor was trained on.

Training data: LFW View 1's training people only (``peopleDevTrain.txt``), images where both
detectors find a face whose centres fall in each other's box. The model is linear least squares
in the frame of the BlazeFace box (centre ``c``, side ``s``): features ``[1, (eyes, nose, mouth
centre − c) / s]`` (9), targets ``((hog centre − c) / s, log(hog side / s))`` (3). The printed
matrix is :data:`faceprint.detect.refine.BLAZEFACE_TO_HOG`.

    FACEPRINT_DATA=../shared/data python benchmarks/fit_box_calibration.py [--images 3000]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from faceprint import get_pack, load_image
from faceprint.detect.refine import box_features

DATA = Path(
    os.environ.get("FACEPRINT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def train_images(limit: int) -> list[Path]:
    lfw = DATA / "lfw"
    out: list[Path] = []
    for line in (lfw / "peopleDevTrain.txt").read_text().splitlines()[1:]:
        name, count = line.split()
        out += [
            lfw / "images_deepfunneled" / name / f"{name}_{i:04d}.jpg"
            for i in range(1, int(count) + 1)
        ]
    rng = np.random.default_rng(0)
    return [out[i] for i in sorted(rng.choice(len(out), min(limit, len(out)), replace=False))]


def pairs(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    hog = get_pack("dlib").create_detector()
    blaze = get_pack("dlib-blazeface").create_detector(threads=1, refine=False)
    feats, targets = [], []
    for path in paths:
        img = load_image(path)
        h, b = hog.detect(img), blaze.detect(img)
        for hb in h.boxes:
            hc = (hb[:2] + hb[2:]) / 2
            for bb, pts in zip(b.boxes, b.landmarks):
                bc = (bb[:2] + bb[2:]) / 2
                inside = np.all((hc >= bb[:2]) & (hc <= bb[2:])) and np.all(
                    (bc >= hb[:2]) & (bc <= hb[2:])
                )
                if inside:
                    s = float(bb[2] - bb[0])
                    feats.append(box_features(bb[None], pts[None])[0])
                    side = float(np.sqrt(np.prod(hb[2:] - hb[:2])))
                    targets.append([*((hc - bc) / s), np.log(side / s)])
    return np.asarray(feats), np.asarray(targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    args = parser.parse_args()
    x, y = pairs(train_images(args.images))
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    print(f"{len(x)} faces; residual std (centre x, centre y, log side): {resid.std(0).round(4)}")
    print(f"baseline std without keypoints: {(y - y.mean(0)).std(0).round(4)}")
    print("BLAZEFACE_TO_HOG = (")
    for row in coef:
        print("    (" + ", ".join(f"{v:.5f}" for v in row) + "),")
    print(")")


if __name__ == "__main__":
    main()
