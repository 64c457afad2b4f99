"""What costs accuracy on LFW? Measured variants of detection, face choice, chip and embedding.

Every variant is scored on View 1 (threshold chosen on pairsDevTrain, accuracy on pairsDevTest:
the numbers to choose by) and on View 2 (10-fold accuracy, mean ± sample std: the numbers to
report). Detection rows run through faceprint's evaluation pipeline (and its cache); chip rows
take the faces of the best detection row and build the 150×150 chip in different ways, embedding
with the dlib-onnx backend (the same network as dlib-resnet, cosine >= 0.9999 per face).

    python benchmarks/lfw_accuracy_variants.py --data ../shared/data/lfw --out OUT_DIR
    python benchmarks/lfw_accuracy_variants.py --data ../shared/data/lfw --out OUT_DIR --jitter 10

Writes OUT_DIR/<variant>.npz (raw descriptors of every View 1 ∪ View 2 image) and prints a
markdown table. Takes about 10 minutes on 2 cores (plus about 1.5 minutes per jitter copy).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceprint.align import DLIB_150, CropSpec, align_faces
from faceprint.evaluate.cache import EmbeddingCache
from faceprint.evaluate.extract import ExtractionConfig, ImageEmbeddings, embed_images
from faceprint.evaluate.lfw import find_lfw, read_pairs
from faceprint.evaluate.metrics import accuracy_at, best_threshold, kfold_accuracy, roc_auc
from faceprint.imageio import load_image
from faceprint.packs import dlib_model_path, get_pack

BEST_FALLBACKS = ("upsample2", "cnn", "center-box")
DETECTION_ROWS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "largest face, whole image when none (face_recognition's LFW recipe)",
        "largest",
        ("whole-image",),
    ),
    ("largest face, no fallback (pairs with a missed face scored -1)", "largest", ()),
    ("face nearest the centre, no fallback", "center", ()),
    ("centre face, whole-image fallback", "center", ("whole-image",)),
    ("centre face, centre-box fallback", "center", ("center-box",)),
    ("centre face, upsample 2 → centre box", "center", ("upsample2", "center-box")),
    ("centre face, upsample 2 → dlib CNN → centre box", "center", BEST_FALLBACKS),
    ("subject face (best overlap with the centred box, IoU ≥ 0.2), no fallback", "subject", ()),
    (
        "subject face, upsample 2 → dlib CNN → centre box (faceprint's LFW default)",
        "subject",
        BEST_FALLBACKS,
    ),
]
CHIPS = ("ours", "dlib68", "dlib5", "bgr", "pad-0.95", "pad-1.05", "flip")


# --- worker -------------------------------------------------------------------------------------

_W: dict[str, Any] = {}


def _init(jitter: int) -> None:
    import dlib

    from faceprint.embed.dlib_onnx import DlibOnnxEmbedder

    _W["dlib"] = dlib
    _W["sp68"] = dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))
    _W["sp5"] = dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))
    _W["net"] = DlibOnnxEmbedder(get_pack("dlib").file("embedder"), threads=1)
    _W["jitter"] = jitter


def _scaled(crop: CropSpec, factor: float) -> CropSpec:
    """The template shrunk (factor < 1: more context around the face) about the chip centre."""
    c = crop.size / 2
    return CropSpec(
        crop.size, tuple(((x - c) * factor + c, (y - c) * factor + c) for x, y in crop.template)
    )


def _jitter(chip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """dlib's ``jitter_image``: ±2% shift, 0.97–1 zoom, ±3° rotation, mirrored half the time."""
    side = chip.shape[0] - 6  # shrink_rect(get_rect(img), 3)
    centre = np.array([chip.shape[1], chip.shape[0]], float) / 2 - 0.5
    centre += rng.uniform(-0.02, 0.02, 2) * side
    box = math.floor(side / rng.uniform(0.97, 0.99999))
    angle = rng.uniform(-3, 3) * math.pi / 180
    scale = box / chip.shape[0]
    ca, sa = math.cos(angle) * scale, math.sin(angle) * scale
    half = (chip.shape[0] - 1) / 2
    m = np.array(
        [[ca, -sa, centre[0] - ca * half + sa * half], [sa, ca, centre[1] - sa * half - ca * half]]
    )
    out = cv2.warpAffine(
        chip,
        m,
        chip.shape[1::-1],
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
    )
    return out[:, ::-1] if rng.random() > 0.5 else out


def _chips(task: tuple[int, str, np.ndarray, np.ndarray]) -> tuple[int, dict[str, np.ndarray]]:
    index, path, box, landmarks = task
    dlib = _W["dlib"]
    rgb = load_image(path)
    rect = dlib.rectangle(*(round(v) for v in (box[0], box[1], box[2] - 1, box[3] - 1)))
    ours = align_faces(rgb, landmarks[None], DLIB_150)[0]
    chips = {
        "ours": ours,
        "dlib68": dlib.get_face_chip(rgb, _W["sp68"](rgb, rect), 150, 0.25),
        "dlib5": dlib.get_face_chip(rgb, _W["sp5"](rgb, rect), 150, 0.25),
        "bgr": ours[:, :, ::-1],
        "pad-0.95": align_faces(rgb, landmarks[None], _scaled(DLIB_150, 0.95))[0],
        "pad-1.05": align_faces(rgb, landmarks[None], _scaled(DLIB_150, 1.05))[0],
        "flip": ours[:, ::-1],
    }
    rng = np.random.default_rng(index)
    jitters = [_jitter(ours, rng) for _ in range(_W["jitter"])]
    batch = np.stack([np.ascontiguousarray(c) for c in [*chips.values(), *jitters]])
    raw = _W["net"]._embed_batch(batch)
    out = dict(zip(chips, raw[: len(chips)], strict=True))
    if jitters:
        out["jitter"] = raw[len(chips) :].mean(0)
    return index, out


# --- scoring ------------------------------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _scores(
    proto: Any, row: dict[str, int], emb: np.ndarray, images: Path, metric: str
) -> np.ndarray:
    a = np.array([row[str(images / p.a)] for p in proto.pairs])
    b = np.array([row[str(images / p.b)] for p in proto.pairs])
    if metric == "euclidean":
        return -np.linalg.norm(emb[a] - emb[b], axis=1)
    u = _unit(emb)
    return (u[a] * u[b]).sum(1)


def _evaluate(
    emb: np.ndarray, has: np.ndarray, files: list[str], lfw: Any, metric: str = "cosine"
) -> dict[str, float]:
    row = {f: i for i, f in enumerate(files)}
    out: dict[str, float] = {}
    for key, name in (
        ("train", "pairsDevTrain.txt"),
        ("test", "pairsDevTest.txt"),
        ("v2", "pairs.txt"),
    ):
        proto = read_pairs(lfw.protocol_file(name))
        s = _scores(proto, row, emb, lfw.images, metric)
        ok = np.array(
            [
                has[row[str(lfw.images / p.a)]] and has[row[str(lfw.images / p.b)]]
                for p in proto.pairs
            ]
        )
        s = np.where(ok, s, -1e9 if metric == "euclidean" else -1.0)
        y = np.array([p.same for p in proto.pairs])
        if key == "train":
            out["t"], out["train_acc"] = best_threshold(s, y)
        elif key == "test":
            out["view1"] = accuracy_at(s, y, out["t"])
        else:
            k = kfold_accuracy(s, y, np.array([p.fold for p in proto.pairs]))
            out.update(
                v2=k.mean, v2_std=k.std, auc=roc_auc(s, y), v2_fixed=accuracy_at(s, y, out["t"])
            )
    return out


def _row(label: str, r: dict[str, float]) -> str:
    return (
        f"| {label} | {100 * r['view1']:.2f} | {100 * r['v2']:.2f} ± {100 * r['v2_std']:.2f} "
        f"| {r['auc']:.5f} |"
    )


# --- main ---------------------------------------------------------------------------------------


def _chip_embeddings(
    base: ImageEmbeddings, out: Path, jitter: int, workers: int
) -> dict[str, np.ndarray]:
    name = f"chips-j{jitter}.npz"
    if (out / name).is_file():
        with np.load(out / name) as z:
            return {k: z[k] for k in z.files}
    has = base.has_face
    tasks = [(i, f, base.boxes[i], base.landmarks[i]) for i, f in enumerate(base.files) if has[i]]
    result: dict[str, np.ndarray] = {}
    start = time.time()
    with mp.get_context("spawn").Pool(workers, _init, (jitter,)) as pool:
        for k, (i, vecs) in enumerate(pool.imap_unordered(_chips, tasks, chunksize=8), 1):
            for v, x in vecs.items():
                result.setdefault(v, np.zeros((len(base.files), 128), np.float32))[i] = x
            if k % 1000 == 0:
                print(f"  chips {k}/{len(tasks)} {time.time() - start:.0f}s", flush=True)
    np.savez(out / name, **result)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--jitter", type=int, default=0, help="jittered copies per face (dlib: 100)")
    ap.add_argument("--workers", type=int, default=mp.cpu_count())
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lfw = find_lfw(args.data)
    names = {
        f
        for n in ("pairs.txt", "pairsDevTrain.txt", "pairsDevTest.txt")
        for f in read_pairs(lfw.protocol_file(n)).files
    }
    files = [str(lfw.images / f) for f in sorted(names)]
    cache = EmbeddingCache()
    print(
        "| variant | View 1 acc. (DevTest, threshold from DevTrain) | View 2 10-fold acc. % | View 2 AUC |"
    )
    print("|---|---|---|---|")
    base = None
    for label, face, fallbacks in DETECTION_ROWS:
        cfg = ExtractionConfig(
            face=face,
            fallbacks=fallbacks,
            embedder="dlib-onnx",  # type: ignore[arg-type]
            workers=args.workers,
        )
        emb = embed_images(files, cfg, cache=cache)
        print(_row(label, _evaluate(emb.embeddings, emb.has_face, files, lfw)), flush=True)
        base = emb
    assert base is not None
    chips = _chip_embeddings(base, args.out, args.jitter, args.workers)
    has = base.has_face
    labels = {
        "ours": "chip: faceprint 5-point similarity to DLIB_150 (the pipeline)",
        "dlib68": "chip: dlib get_face_chip from the 68-point shape",
        "dlib5": "chip: dlib get_face_chip from dlib's 5-point model",
        "bgr": "chip: ours, channels swapped (BGR)",
        "pad-0.95": "chip: ours, template scaled 0.95 (more margin)",
        "pad-1.05": "chip: ours, template scaled 1.05 (less margin)",
        "flip": "chip: ours mirrored only",
        "jitter": f"ours, mean of {args.jitter} dlib-style jitters",
    }
    for key, vec in chips.items():
        print(_row(labels[key], _evaluate(vec, has, files, lfw)), flush=True)
    print(
        _row(
            "ours + mirrored chip, descriptors averaged",
            _evaluate(chips["ours"] + chips["flip"], has, files, lfw),
        )
    )
    print(
        _row(
            "dlib68 chip, Euclidean distance on raw descriptors",
            _evaluate(chips["dlib68"], has, files, lfw, "euclidean"),
        )
    )
    print(
        _row(
            "ours, Euclidean distance on raw descriptors",
            _evaluate(chips["ours"], has, files, lfw, "euclidean"),
        )
    )
    if "jitter" in chips:
        _augmentation(chips, has, files, lfw, args.jitter)


def _augmentation(
    chips: dict[str, np.ndarray], has: np.ndarray, files: list[str], lfw: Any, jitter: int
) -> None:
    """Test-time augmentation recipes (unit descriptors averaged), chosen two honest ways:
    by 10-fold accuracy on the 3,200 View 1 pairs pooled, and inside View 2's 10-fold protocol
    (each test fold gets the recipe that is best on the other nine)."""
    u = {k: _unit(v) for k, v in chips.items()}
    recipes = {
        "ours (no augmentation)": u["ours"],
        "ours + mirrored": u["ours"] + u["flip"],
        f"mean of {jitter} jitters": u["jitter"],
        f"ours + {jitter} jitters": u["ours"] + jitter * u["jitter"],
        "ours + mirrored + dlib68 + dlib5 chips": u["ours"] + u["flip"] + u["dlib68"] + u["dlib5"],
    }
    v1 = [
        p
        for n in ("pairsDevTrain.txt", "pairsDevTest.txt")
        for p in read_pairs(lfw.protocol_file(n)).pairs
    ]
    v2 = list(read_pairs(lfw.protocol_file("pairs.txt")).pairs)
    row = {f: i for i, f in enumerate(files)}
    y1, f1 = np.array([p.same for p in v1]), np.arange(len(v1)) % 10
    y2, f2 = np.array([p.same for p in v2]), np.array([p.fold for p in v2])
    s2 = {}
    print(
        "\n| augmentation | View 1 pooled 10-fold acc. % | View 2 10-fold acc. % |\n|---|---|---|"
    )
    for name, emb in recipes.items():
        k1 = kfold_accuracy(_pair_cos(emb, v1, row, lfw.images), y1, f1)
        s2[name] = _pair_cos(emb, v2, row, lfw.images)
        k2 = kfold_accuracy(s2[name], y2, f2)
        print(f"| {name} | {100 * k1.mean:.2f} | {100 * k2.mean:.2f} ± {100 * k2.std:.2f} |")
    accs, picks = [], []
    for k in range(10):
        train = f2 != k
        pick = max(recipes, key=lambda r: best_threshold(s2[r][train], y2[train])[1])
        t, _ = best_threshold(s2[pick][train], y2[train])
        accs.append(accuracy_at(s2[pick][~train], y2[~train], t))
        picks.append(pick)
    print(
        f"\nrecipe chosen inside View 2's 10-fold protocol: {100 * np.mean(accs):.2f} ± "
        f"{100 * np.std(accs, ddof=1):.2f} (picks: {picks})"
    )


def _pair_cos(emb: np.ndarray, pairs: list[Any], row: dict[str, int], images: Path) -> np.ndarray:
    e = _unit(emb)
    a = np.array([row[str(images / p.a)] for p in pairs])
    b = np.array([row[str(images / p.b)] for p in pairs])
    return (e[a] * e[b]).sum(1)


if __name__ == "__main__":
    main()
