"""Small faces: faceprint's general pipeline against face_recognition on downscaled LFW.

Every image LFW View 2 needs (7,701 deep-funneled 250×250 JPEGs) is resized to SIZE×SIZE
(``cv2.INTER_AREA``) and goes through both pipelines with the rule a user gets: the largest face
of each image, no fallback (a pair with a missed face scores -1, a non-match):

* faceprint: ``FaceAnalyzer(PACK)`` as shipped (``--pack``, repeatable; default the default
  pack). ``dlib``: HOG, 68-point landmarks, 5-point similarity to the 150×150 chip, dlib's ResNet
  in onnxruntime; ``dlib-blazeface``: BlazeFace boxes, the same landmarks, chip and ResNet;
* face_recognition: ``face_locations`` (HOG, upsample 1) + ``face_encodings`` (dlib's 5-point
  landmarks, dlib's ``get_face_chip``, dlib's ResNet).

Both are scored with 10-fold cosine accuracy (each fold's threshold from the other nine), and
paired: a pair counts as right for a pipeline when its fold's threshold classifies it right; the
discordant pairs (right for one only) give an exact McNemar test.

With ``--variants`` the faceprint side also embeds other chips of the same detected face: the
one face_recognition makes (dlib's 5-point model and ``get_face_chip``; embedded by faceprint's
onnxruntime copy of the same network it gives face_recognition's embedding, cosine 1.0000, so
``--pack dlib --no-reference --variants`` stands in for the slow face_recognition run: on
the dlib pack's HOG box only, as face_recognition detects with HOG), faceprint's before
small faces were warped bicubically (bilinear for every face), landmarks found on a 2× enlarged
copy, and bicubic or Lanczos warps for every face.

    python benchmarks/bench_small_faces.py --data ../shared/data/lfw --size 150 --variants
    python benchmarks/bench_small_faces.py --data ../shared/data/lfw --size 250 --variants
    python benchmarks/bench_small_faces.py --data ../shared/data/lfw --size 150 \
        --no-reference --pack dlib --pack dlib-blazeface     # after a --pack dlib --variants run

Embeddings are saved as OUT/{fr,fp}-[PACK-]SIZE*.npz (no PACK for ``dlib``) as the run goes (``.partial.npz``, images in fold
order; an interrupted run resumes, ``--partial`` reports on the folds finished so far) and
reused; pass ``--recompute`` after changing faceprint. Costs, CPU seconds per image: faceprint
about 0.02 at 150 px (0.05 with the variants), face_recognition about 0.1 (its dlib ResNet).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from faceprint.evaluate.lfw import find_lfw, read_pairs
from faceprint.evaluate.metrics import best_threshold
from faceprint.packs import DEFAULT_PACK

Arrays = dict[str, npt.NDArray[Any]]
#: face_recognition's chip (HOG box → dlib's 5-point model → dlib.get_face_chip) embedded by
#: faceprint's onnxruntime copy of the same network: face_recognition's embedding
FR_CHIP = "face_recognition's chip, network in onnxruntime"
#: faceprint before small faces were warped bicubically (every crop bilinear)
BEFORE = "faceprint before (bilinear warp for every face)"
_W: dict[str, Any] = {}


# --- workers ----------------------------------------------------------------------------------


def _resized(path: str, size: int) -> npt.NDArray[np.uint8]:
    from faceprint.imageio import load_image

    rgb = load_image(path)
    if rgb.shape[:2] == (size, size):
        return rgb
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


def _init_fr() -> None:
    import face_recognition

    _W["fr"] = face_recognition


def _fr(task: tuple[int, str, int]) -> tuple[int, npt.NDArray[np.float32] | None, float]:
    """face_recognition's embedding of the largest face (None: no face), and the CPU seconds."""
    index, path, size = task
    fr = _W["fr"]
    rgb = _resized(path, size)
    start = time.process_time()
    locs = fr.face_locations(rgb)
    if not locs:
        return index, None, time.process_time() - start
    top, right, bottom, left = max(locs, key=lambda c: (c[2] - c[0]) * (c[1] - c[3]))
    enc = fr.face_encodings(rgb, [(top, right, bottom, left)])[0]
    return index, np.asarray(enc, np.float32), time.process_time() - start


def _init_fp(variants: bool, pack: str = "dlib") -> None:
    import dlib

    from faceprint.packs import dlib_model_path
    from faceprint.pipeline import FaceAnalyzer

    _W["fa"] = FaceAnalyzer(pack, max_side=None, embedder_options={"threads": 1})
    _W["variants"] = variants
    _W["dlib"] = dlib
    _W["sp5"] = dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))
    _W["sp68"] = dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))


def _five(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.stack(
        [points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]]
    )


def _shape(predictor: Any, rgb: npt.NDArray[np.uint8], box: Sequence[float], k: float) -> Any:
    """dlib shape of the face in ``box`` found on ``rgb`` enlarged ``k`` times (bilinear):
    (its points in ``rgb``'s pixels, the dlib shape, the image it was found on)."""
    dlib = _W["dlib"]
    img = rgb if k == 1 else cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
    x1, y1, x2, y2 = ((np.asarray(box, np.float64) + 0.5) * k - 0.5).tolist()
    rect = dlib.rectangle(round(x1), round(y1), round(x2) - 1, round(y2) - 1)
    shape = predictor(np.ascontiguousarray(img), rect)
    pts = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
    return (pts + 0.5) / k - 0.5, shape, img


def _similarity(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    from faceprint.align import DLIB_150, similarity_transform

    return similarity_transform(points, DLIB_150.template_array())


def _variant_chips(rgb: npt.NDArray[np.uint8], box: npt.NDArray[np.float32]) -> dict[str, Any]:
    """Chips of the face in ``box`` made other ways: face_recognition's (dlib's 5-point model
    and ``get_face_chip``), faceprint's before this benchmark (bilinear for every face), landmarks
    found on a 2× enlarged copy (finer than dlib's whole pixels), bicubic and Lanczos warps for
    every face."""
    from faceprint.align import DLIB_150, align_faces

    pts68, _, _ = _shape(_W["sp68"], rgb, box, 1)
    _, shape5, _ = _shape(_W["sp5"], rgb, box, 1)
    up, _, _ = _shape(_W["sp68"], rgb, box, 2)
    chips: dict[str, Any] = {
        FR_CHIP: _W["dlib"].get_face_chip(rgb, shape5, 150, 0.25),
        "landmarks on a 2× copy": align_faces(rgb, _five(up)[None], DLIB_150)[0],
    }
    for name, flag in (
        (BEFORE, cv2.INTER_LINEAR),
        ("bicubic warp for every face", cv2.INTER_CUBIC),
        ("Lanczos warp for every face", cv2.INTER_LANCZOS4),
    ):
        chips[name] = cv2.warpAffine(
            rgb, _similarity(_five(pts68)), (150, 150), flags=flag, borderMode=cv2.BORDER_REPLICATE
        )
    return chips


def _fp(task: tuple[int, str, int]) -> tuple[int, dict[str, Any] | None, float]:
    """faceprint's pipeline on the largest face (None: no face), variant chips, CPU seconds."""
    from faceprint.pipeline import select_face

    index, path, size = task
    fa = _W["fa"]
    rgb = _resized(path, size)
    start = time.process_time()
    faces = fa.detect(rgb)
    if len(faces) == 0:
        return index, None, time.process_time() - start
    face = faces[[select_face(faces, "largest")]]
    crop = fa.align(rgb, face)
    emb = fa.embed_crops(crop)[0]
    seconds = time.process_time() - start
    out: dict[str, Any] = {"faceprint": emb, "width": float(face.boxes[0, 2] - face.boxes[0, 0])}
    if _W["variants"]:
        chips = _variant_chips(rgb, face.boxes[0])
        vecs = fa.embedder.embed(np.stack([np.ascontiguousarray(c) for c in chips.values()]))
        out.update(zip(chips, vecs, strict=True))
    return index, out, seconds


# --- extraction ---------------------------------------------------------------------------------


def _run(
    files: Sequence[str],
    order: Sequence[int],
    size: int,
    workers: int,
    job: tuple[Callable[..., None], tuple[Any, ...], Callable[..., Any]],
    path: Path,
) -> Arrays:
    """Run ``job`` (initializer, its arguments, work function) on ``files`` in ``order``,
    saving what is done to ``path``'s ``.partial.npz`` as it goes (and resuming from it)."""
    n = len(files)
    partial = path.with_suffix(".partial.npz")
    result = _load(partial) if partial.is_file() else {"done": np.zeros(n, bool)}
    result.setdefault("has", np.zeros(n, bool))
    result.setdefault("cpu", np.zeros(n))
    tasks = [(i, files[i], size) for i in order if not result["done"][i]]
    start = time.time()
    init, initargs, work = job
    with mp.get_context("spawn").Pool(workers, init, initargs) as pool:
        for k, (i, found, cpu) in enumerate(pool.imap(work, tasks, chunksize=8), 1):
            result["cpu"][i], result["done"][i] = cpu, True
            if found is not None:
                result["has"][i] = True
                vecs = found if isinstance(found, dict) else {"embedding": found}
                for key, v in vecs.items():
                    arr = np.asarray(v, np.float32)
                    result.setdefault(key, np.zeros((n, *arr.shape), np.float32))[i] = arr
            if k % 500 == 0 or k == len(tasks):
                _save(partial, result)
                print(f"  {path.name}: {int(result['done'].sum())}/{n} {time.time() - start:.0f}s")
    return result


def _load(path: Path) -> Arrays:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _save(path: Path, arrays: Arrays) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def _cached(path: Path, compute: Callable[[], Arrays], recompute: bool = False) -> Arrays:
    """``path``'s arrays; computed (and saved) when it is missing or ``recompute``."""
    if path.is_file() and not recompute:
        return _load(path)
    if recompute:
        path.with_suffix(".partial.npz").unlink(missing_ok=True)
    arrays = compute()
    _save(path, arrays)
    path.with_suffix(".partial.npz").unlink(missing_ok=True)
    return arrays


# --- scoring ------------------------------------------------------------------------------------


def _unit(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def pair_scores(
    emb: npt.NDArray[np.float32], has: npt.NDArray[np.bool_], a: Any, b: Any
) -> npt.NDArray[np.float64]:
    """Cosine similarity of each pair; -1 where either image has no face."""
    u = _unit(emb)
    s = (u[a] * u[b]).sum(1).astype(np.float64)
    return np.where(has[a] & has[b], s, -1.0)


def fold_correct(
    scores: npt.NDArray[np.float64], same: npt.NDArray[np.bool_], folds: npt.NDArray[np.int_]
) -> npt.NDArray[np.bool_]:
    """Per pair: classified right by the threshold best on the other folds."""
    right = np.zeros(len(scores), bool)
    for k in np.unique(folds):
        test = folds == k
        t, _ = best_threshold(scores[~test], same[~test])
        right[test] = (scores[test] >= t) == same[test]
    return right


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar (binomial) p-value for the discordant counts."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def _summary(
    name: str,
    right: npt.NDArray[np.bool_],
    folds: npt.NDArray[np.int_],
    same: npt.NDArray[np.bool_],
    ref: npt.NDArray[np.bool_],
) -> str:
    accs = [right[folds == k].mean() for k in np.unique(folds)]
    missed_genuine = int((same & ~right).sum())
    only_self, only_ref = int((right & ~ref).sum()), int((ref & ~right).sum())
    return (
        f"| {name} | {100 * np.mean(accs):.2f} ± {100 * np.std(accs, ddof=1):.2f} "
        f"| {missed_genuine} | {int((~same & ~right).sum())} | {only_self} | {only_ref} "
        f"| {mcnemar_p(only_self, only_ref):.3f} |"
    )


def _report(results: dict[str, Arrays], size: int, pairs: tuple[Any, ...]) -> None:
    """Print the accuracy table over the folds every result has complete."""
    a, b, same, folds = pairs
    results = {k: r for k, r in results.items() if r}
    done = np.ones(len(a), bool)
    for r in results.values():
        finished = r.get("done", np.ones_like(r["has"]))
        done &= finished[a] & finished[b]
    complete = [k for k in np.unique(folds) if done[folds == k].all()]
    keep = np.isin(folds, complete)
    a, b, same, folds = a[keep], b[keep], same[keep], folds[keep]
    rows: dict[str, npt.NDArray[np.bool_]] = {}
    for label, r in sorted(results.items(), key=lambda kv: kv[0] != "face_recognition"):
        finished = r.get("done", np.ones_like(r["has"]))
        print(
            f"{label}: no face in {int((finished & ~r['has']).sum())} of {int(finished.sum())} "
            f"images at {size}×{size}; "
            f"{r['cpu'][r['cpu'] > 0].mean():.4f} CPU s per image (detect + embed, one process)"
        )
        for key in [k for k in r if k not in ("has", "cpu", "width", "done")]:
            name = label if key in ("faceprint", "embedding") else key
            if name == key and label not in ("faceprint (dlib)", "face_recognition"):
                name = f"{key} ({label.removeprefix('faceprint (')}"
            rows[name] = fold_correct(pair_scores(r[key], r["has"], a, b), same, folds)
    ref = next((k for k in ("face_recognition", FR_CHIP) if k in rows), next(iter(rows)))
    print(
        f"\n{len(complete)} complete folds ({len(a)} pairs)\n\n"
        "| pipeline | View 2 10-fold % | missed genuine | false matches | right only here "
        f"| right only with {ref} | McNemar p |\n|---|---|---|---|---|---|---|"
    )
    for name, right in rows.items():
        print(_summary(name, right, folds, same, rows[ref]))


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="LFW folder (or its parent)")
    ap.add_argument("--size", type=int, default=150, help="side of the resized images, pixels")
    ap.add_argument("--out", type=Path, default=Path("/tmp/small-faces"))
    ap.add_argument("--workers", type=int, default=mp.cpu_count())
    ap.add_argument("--variants", action="store_true", help="also embed the other chips")
    ap.add_argument("--recompute", action="store_true", help="recompute faceprint's side")
    ap.add_argument(
        "--pack",
        action="append",
        help=f"faceprint's pack (repeat for several; default {DEFAULT_PACK}); the stand-in for "
        "face_recognition is the dlib pack's --variants chip (HOG, like face_recognition)",
    )
    ap.add_argument(
        "--partial", action="store_true", help="only report on what earlier runs finished"
    )
    ap.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the face_recognition run (with --variants its chip stands in for it)",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lfw = find_lfw(args.data)
    proto = read_pairs(lfw.protocol_file("pairs.txt"))
    names = sorted(proto.files)
    files = [str(lfw.images / f) for f in names]
    row = {f: i for i, f in enumerate(names)}
    a = np.array([row[p.a] for p in proto.pairs])
    b = np.array([row[p.b] for p in proto.pairs])
    same = np.array([p.same for p in proto.pairs])
    folds = np.array([p.fold for p in proto.pairs])
    order = list(dict.fromkeys(i for p in proto.pairs for i in (row[p.a], row[p.b])))

    def load(name: str, job: Any, recompute: bool = False) -> Arrays:
        path = args.out / name
        if args.partial:
            done = path if path.is_file() else path.with_suffix(".partial.npz")
            return _load(done) if done.is_file() else {}
        return _cached(
            path, lambda: _run(files, order, args.size, args.workers, job, path), recompute
        )

    results: dict[str, Arrays] = {}
    for pack in args.pack or [DEFAULT_PACK]:
        tag = "" if pack == "dlib" else f"{pack}-"
        fp_name = f"fp-{tag}{args.size}{'-variants' if args.variants else ''}.npz"
        if (args.out / f"fp-{tag}{args.size}-variants.npz").is_file():  # holds the plain run too
            fp_name = f"fp-{tag}{args.size}-variants.npz"
        job = (_init_fp, (args.variants, pack), _fp)
        results[f"faceprint ({pack})"] = load(fp_name, job, args.recompute)
    if not args.no_reference:
        results["face_recognition"] = load(f"fr-{args.size}.npz", (_init_fr, (), _fr))
    _report(results, args.size, (a, b, same, folds))


if __name__ == "__main__":
    main()
