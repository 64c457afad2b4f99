"""LFW View 2 10-fold accuracy of detector + recognizer combinations (ONNX packs and dlib).

A minimal protocol of its own, written before ``faceprint.evaluate`` had its LFW runner, that
caches detections per detector so that several recognizers share them (the library's protocol is
``faceprint evaluate lfw --pack NAME``; the README compares both). The 10-fold accuracy itself
is :func:`faceprint.evaluate.metrics.kfold_accuracy`:

* every image of ``lfw/pairs.txt`` (View 2) and ``lfw/pairsDevTrain.txt`` (View 1 training) is
  run through the detector at its default settings; the face nearest the image centre is used;
* an image without a face is retried once with the detector's score threshold lowered to 0.3
  (dlib HOG: upsample 2); still none → every pair with it scores −1 (decided "different");
* crops are aligned to the recognizer's template, embedded, compared by cosine similarity;
* View 2: accuracy of each fold at the best threshold of the other nine (mean ± std);
  the pack threshold is the best threshold on View 1's training pairs (never on View 2).

Detectors: those of ``bench_detectors.py``. Recognizers: ``mobilefacenet`` (the fixture,
(x − 127.5)/128), ``dlib-resnet`` (dlib's ResNet run by dlib), ``dlib-onnx`` (its ONNX
conversion). Detections are cached per detector under ``--cache``. One thread.

    FACEPRINT_DATA=../shared/data python benchmarks/bench_lfw_packs.py \
        --combos yunet-2023mar+mobilefacenet scrfd-500m+mobilefacenet --out results.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_detectors import DATA, MODELS, ONNX_DETECTORS, make_detector, onnx_pack

import faceprint.detect.retinaface
import faceprint.detect.scrfd
import faceprint.detect.yunet  # noqa: F401  (every backend imported before the long run)
from faceprint import get_pack, load_image
from faceprint.align import align_faces
from faceprint.embed.arcface_onnx import ArcFaceOnnxEmbedder
from faceprint.embed.base import Embedder
from faceprint.evaluate.metrics import best_threshold, kfold_accuracy
from faceprint.pipeline import select_face

cv2.setNumThreads(1)
LFW = DATA / "lfw"

Pair = tuple[str, str, bool, int]


def read_pairs(path: Path) -> list[Pair]:
    """(image a, image b, same, fold) from an LFW pairs file (View 1 files are one fold)."""
    lines = path.read_text().strip().splitlines()
    head = lines[0].split()
    per_fold = int(head[1]) * 2 if len(head) == 2 else len(lines) - 1
    out = []
    for i, line in enumerate(lines[1:]):
        p = line.split()
        if len(p) == 3:
            a, b, same = (p[0], int(p[1])), (p[0], int(p[2])), True
        else:
            a, b, same = (p[0], int(p[1])), (p[2], int(p[3])), False
        out.append((_file(*a), _file(*b), same, i // per_fold))
    return out


def _file(name: str, n: int) -> str:
    return f"{name}/{name}_{n:04d}.jpg"


def retry_detector(name: str) -> Any:
    if name == "dlib-hog":
        return get_pack("dlib").create_detector(upsample=2)
    backend, file = ONNX_DETECTORS[name]
    return onnx_pack(backend, file).create_detector(threads=1, score_threshold=0.3)


def detect_all(name: str, images: list[str], cache: Path) -> dict[str, Any]:
    """Landmarks (N, 5, 2) and a status per image (0 found, 1 found on retry, 2 none)."""
    path = cache / f"det_{name}.npz"
    if path.is_file():
        data = np.load(path)
        if list(data["images"]) == images:
            return {"landmarks": data["landmarks"], "status": data["status"], "seconds": 0.0}
    det, retry = make_detector(name), None
    landmarks = np.zeros((len(images), 5, 2), np.float32)
    status = np.full(len(images), 2, np.int8)
    t0 = time.perf_counter()
    for i, rel in enumerate(images):
        img = load_image(LFW / "images_deepfunneled" / rel)
        faces = det.detect(img)
        if len(faces) == 0:
            retry = retry or retry_detector(name)
            faces = retry.detect(img)
            status[i] = 1 if len(faces) else 2
        else:
            status[i] = 0
        if len(faces):
            landmarks[i] = faces.landmarks[select_face(faces, "center", image_shape=img.shape)]
    seconds = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=np.array(images), landmarks=landmarks, status=status)
    return {"landmarks": landmarks, "status": status, "seconds": seconds}


def make_embedder(name: str) -> Embedder:
    if name == "mobilefacenet":
        return ArcFaceOnnxEmbedder(
            str(MODELS / "mobilefacenet" / "mobilefacenet.onnx"),
            input_mean=127.5,
            input_std=128.0,
            threads=1,
        )
    if name in ("dlib-resnet", "dlib-onnx"):  # dlib's ResNet run by dlib, or its ONNX conversion
        return replace(get_pack("dlib"), embedder=name).create_embedder()
    raise SystemExit(f"unknown recognizer {name}")


def embed_all(name: str, images: list[str], det: dict[str, Any]) -> np.ndarray:
    emb = make_embedder(name)
    out = np.zeros((len(images), emb.dim), np.float32)
    found = np.flatnonzero(det["status"] < 2)
    for start in range(0, len(found), 64):
        idx = found[start : start + 64]
        crops = np.concatenate(
            [
                align_faces(
                    load_image(LFW / "images_deepfunneled" / images[i]),
                    det["landmarks"][i][None],
                    emb.crop,
                )
                for i in idx
            ]
        )
        out[idx] = emb.embed(crops)
    return out


def scores_for(
    pairs: list[Pair], index: dict[str, int], emb: np.ndarray, ok: np.ndarray
) -> np.ndarray:
    a = np.array([index[p[0]] for p in pairs])
    b = np.array([index[p[1]] for p in pairs])
    s = np.einsum("ij,ij->i", emb[a], emb[b])
    return np.where(ok[a] & ok[b], s, -1.0)


def run(combo: str, cache: Path) -> dict[str, Any]:
    det_name, rec_name = combo.split("+")
    view2, dev = read_pairs(LFW / "pairs.txt"), read_pairs(LFW / "pairsDevTrain.txt")
    images = sorted({p[0] for p in view2 + dev} | {p[1] for p in view2 + dev})
    index = {name: i for i, name in enumerate(images)}
    det = detect_all(det_name, images, cache)
    t0 = time.perf_counter()
    emb = embed_all(rec_name, images, det)
    ok = det["status"] < 2
    s2 = scores_for(view2, index, emb, ok)
    labels2 = np.array([p[2] for p in view2])
    k = kfold_accuracy(s2, labels2, np.array([p[3] for p in view2]))
    dev_t, dev_acc = best_threshold(scores_for(dev, index, emb, ok), np.array([p[2] for p in dev]))
    v2_images = sorted({index[p[0]] for p in view2} | {index[p[1]] for p in view2})
    st = det["status"][v2_images]
    return {
        "combo": combo,
        "view2_mean_accuracy": round(k.mean, 5),
        "view2_std": round(k.std, 5),
        "view2_fold_thresholds": [round(t, 4) for t in k.thresholds],
        "view1_train_threshold": round(float(dev_t), 4),
        "view1_train_accuracy": round(float(dev_acc), 5),
        "view2_images": len(v2_images),
        "view2_images_found_on_retry": int((st == 1).sum()),
        "view2_images_without_face": int((st == 2).sum()),
        "detect_seconds": round(det["seconds"], 1),
        "embed_seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--combos", nargs="+", required=True, help="DETECTOR+RECOGNIZER")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/faceprint-lfw-packs"))
    parser.add_argument("--out", type=Path, help="append one JSON line per combination")
    args = parser.parse_args()
    for combo in args.combos:
        result = run(combo, args.cache)
        line = json.dumps(result)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
