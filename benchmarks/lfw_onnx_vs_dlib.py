"""Issue 5: LFW View 2 10-fold accuracy of dlib-bin vs faceprint ONNX fp32 vs int8 (same chips).

Chips: the 'dlib' pack's HOG detector + 68-pt landmarks, largest face, align_faces(DLIB_150);
an image without a detected face uses the mean landmarks of all detected faces (LFW deep-funneled
images are roughly aligned) -- identical chips for every embedder. Caches under /tmp/issue5.
Run: python benchmarks/lfw_onnx_vs_dlib.py   (FACEPRINT_DATA points at the data)
"""

import json
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from faceprint.align import DLIB_150, align_faces
from faceprint.embed.dlib_convert import DAT_NAME
from faceprint.embed.dlib_onnx import DlibOnnxEmbedder
from faceprint.embed.dlib_resnet import DlibResnetEmbedder
from faceprint.evaluate.lfw import read_pairs
from faceprint.evaluate.metrics import kfold_accuracy
from faceprint.imageio import load_image
from faceprint.packs import dlib_model_path, get_pack

os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core: be considerate
TMP = Path("/tmp/issue5")
TMP.mkdir(exist_ok=True)
lfw = Path(os.environ.get("FACEPRINT_DATA", "../shared/data")) / "lfw"
proto = read_pairs(lfw / "pairs.txt")
files = proto.files
row = {f: i for i, f in enumerate(files)}


def chips() -> np.ndarray:
    path = TMP / "view2_chips.npy"
    if path.exists():
        return np.load(path)
    det = get_pack("dlib").create_detector()
    t = time.time()
    imgs, pts = [], []
    for f in files:
        img = load_image(lfw / "images_deepfunneled" / f)
        faces = det.detect(img)
        imgs.append(img)
        pts.append(faces.landmarks[int(np.argmax(faces.areas))] if len(faces) else None)
    found = [p for p in pts if p is not None]
    mean = np.mean(found, axis=0)
    print(
        f"detected {len(found)}/{len(files)} images in {time.time() - t:.0f}s; "
        f"{len(files) - len(found)} use the mean landmarks",
        flush=True,
    )
    out = np.stack(
        [align_faces(im, (mean if p is None else p)[None], DLIB_150)[0] for im, p in zip(imgs, pts)]
    )
    np.save(path, out)
    return out


def embed(name, fn, x) -> np.ndarray:
    path = TMP / f"view2_{name}.npy"
    if path.exists():
        return np.load(path)
    t = time.time()
    e = fn(x)
    np.save(path, e)
    print(f"{name}: embedded {len(x)} chips in {time.time() - t:.0f}s", flush=True)
    return e


def unit(e):
    return e / np.linalg.norm(e, axis=1, keepdims=True)


X = chips()
int8_path = TMP / "int8_qdq_per-channel.onnx"
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.log_severity_level = 3
int8 = (
    ort.InferenceSession(str(int8_path), so, providers=["CPUExecutionProvider"])
    if int8_path.exists()
    else None
)
E = {
    "onnx_fp32": embed("onnx_fp32", DlibOnnxEmbedder(threads=1).embed, X),
    "dlib": embed("dlib", DlibResnetEmbedder(str(dlib_model_path(DAT_NAME))).embed, X),
}
if int8 is not None:
    E["onnx_int8"] = embed(
        "onnx_int8",
        lambda x: unit(
            np.concatenate(
                [int8.run(None, {"chips": x[i : i + 32]})[0] for i in range(0, len(x), 32)]
            )
        ),
        X,
    )
labels = np.array([p.same for p in proto.pairs])
folds = np.array([p.fold for p in proto.pairs])
ia = np.array([row[p.a] for p in proto.pairs])
ib = np.array([row[p.b] for p in proto.pairs])
res = {"images": len(files), "pairs": len(labels)}
for name, e in E.items():
    e = unit(e)
    k = kfold_accuracy((e[ia] * e[ib]).sum(1), labels, folds)
    res[name] = {
        "kfold_mean": k.mean,
        "kfold_std": k.std,
        "cos_vs_dlib_min": float((e * unit(E["dlib"])).sum(1).min()),
        "cos_vs_dlib_mean": float((e * unit(E["dlib"])).sum(1).mean()),
    }
    print(
        f"{name:10s} LFW View 2 10-fold accuracy {100 * k.mean:.3f}% ± {100 * k.std:.3f}; "
        f"cos vs dlib min {res[name]['cos_vs_dlib_min']:.6f} mean {res[name]['cos_vs_dlib_mean']:.6f}"
    )
if "onnx_int8" in E:
    c = (unit(E["onnx_int8"]) * unit(E["onnx_fp32"])).sum(1)
    res["int8_vs_fp32_cos"] = {
        "min": float(c.min()),
        "mean": float(c.mean()),
        "p1": float(np.percentile(c, 1)),
    }
    print("int8 vs fp32 cos:", res["int8_vs_fp32_cos"])
Path("/work/notes/issue5_lfw_eval.json").write_text(json.dumps(res, indent=2))
