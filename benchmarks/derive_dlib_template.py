"""Derive ``faceprint.align.DLIB_150``: where dlib's own face chip puts our five landmarks.

dlib's recognition network was trained on chips made by ``get_face_chip_details(shape, 150,
0.25)``. For LFW faces found by HOG, this maps our five points (eye centres, nose tip, mouth
corners, from the 68-point model) into dlib's chip coordinates and averages them: the template
our similarity alignment targets.

    python benchmarks/derive_dlib_template.py [--n 400]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import dlib
import numpy as np

from faceprint.packs import dlib_model_path

SIZE, PADDING = 150, 0.25


def chip_to_image_affine(chip: dlib.chip_details, shape: tuple[int, int]) -> np.ndarray:
    """3×3 matrix mapping chip pixel (x, y, 1) to image coordinates, read off dlib itself."""
    h, w = shape
    ys, xs = np.mgrid[:h, :w].astype(np.float32)
    cx = dlib.extract_image_chip(np.ascontiguousarray(xs), chip)
    cy = dlib.extract_image_chip(np.ascontiguousarray(ys), chip)
    jj, ii = np.meshgrid(np.arange(SIZE), np.arange(SIZE))
    design = np.stack([jj.ravel(), ii.ravel(), np.ones(SIZE * SIZE)], 1)
    mx = np.linalg.lstsq(design, cx.ravel(), rcond=None)[0]
    my = np.linalg.lstsq(design, cy.ravel(), rcond=None)[0]
    return np.vstack([mx, my, [0, 0, 1]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("FACEPRINT_DATA", "../shared/data"))
    )
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))
    files = sorted((args.data / "lfw" / "images_deepfunneled").glob("*/*_0001.jpg"))[: args.n]
    points = []
    for f in files:
        img = dlib.load_rgb_image(str(f))
        rects = detector(img, 1)
        if len(rects) != 1:
            continue
        shape = predictor(img, rects[0])
        p = np.array([[q.x, q.y] for q in shape.parts()], float)
        five = np.array([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])
        m = chip_to_image_affine(dlib.get_face_chip_details(shape, SIZE, PADDING), img.shape[:2])
        points.append((np.linalg.inv(m) @ np.c_[five, np.ones(5)].T).T[:, :2])
    arr = np.array(points)
    print(f"{len(arr)} faces; template (x, y) in the {SIZE}x{SIZE} chip, then std:")
    print(np.round(arr.mean(0), 4))
    print(np.round(arr.std(0), 3))


if __name__ == "__main__":
    main()
