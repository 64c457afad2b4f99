"""Embedding speed: dlib-bin vs faceprint's ONNX conversion of the same ResNet, same chips, same run.

Part 1, per-face embedding time on the same aligned LFW chips: dlib-bin
(``face_recognition_model_v1.compute_face_descriptor``) and faceprint's ``DlibOnnxEmbedder``, at
batch 1 and batch 32, with one thread and with every thread. Each configuration runs in its own
subprocess; "1 thread" pins that process to one CPU (``sched_setaffinity``) and sets
``OMP/OPENBLAS/MKL_NUM_THREADS=1``, so no library can use a second core; onnxruntime also gets
``intra_op_num_threads=1``. The CPU-time / wall-time ratio shows how many cores a run really used.

Part 2, end-to-end images per second on LFW (first image of the first N people, sorted):
faceprint (``FaceAnalyzer`` on the ``dlib`` pack's detector with the ONNX embedder, 32 decoded
images per ``analyze_many`` call) vs ageitgey/face_recognition 1.3 with its defaults (HOG with
one upsample, 5-point landmarks, ``num_jitters=1``), plus a per-stage profile of faceprint's
pipeline (decode, HOG detector, 68-point landmarks, alignment, embedding).

    python benchmarks/bench_embed.py                 # table
    python benchmarks/bench_embed.py --json out.json # and the raw numbers
    python benchmarks/bench_embed.py --skip-e2e --faces 32

Needs the real data (FACEPRINT_DATA, default ../shared/data) and, for part 2,
``pip install --no-deps face_recognition``. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
Chips = npt.NDArray[np.uint8]


def data_root() -> Path:
    return Path(os.environ.get("FACEPRINT_DATA", ROOT.parent / "shared" / "data")).resolve()


def lfw_sample(n: int) -> list[Path]:
    """First image (sorted) of each of the first ``n`` people (sorted): the test's sample."""
    root = data_root() / "lfw" / "images_deepfunneled"
    if not root.is_dir():
        sys.exit(f"LFW not found at {root} (set FACEPRINT_DATA)")
    people = (p for p in sorted(root.iterdir()) if p.is_dir())
    return [min(p.glob("*.jpg")) for p, _ in zip(people, range(n), strict=False)]


def single_thread_env() -> dict[str, str]:
    one = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    return {**os.environ, **one}


def pin_to_one_cpu() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


# ---------------------------------------------------------------------------------------------
# workers (run in subprocesses)


def make_embed_fn(backend: str, threads: int) -> Callable[[Chips], Any]:
    from faceprint.packs import dlib_model_path

    dat = dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")
    if backend == "dlib":
        import dlib

        model = dlib.face_recognition_model_v1(str(dat))
        return lambda chips: model.compute_face_descriptor(list(chips))
    from faceprint.embed.dlib_onnx import DlibOnnxEmbedder

    emb = DlibOnnxEmbedder(dat, threads=threads, batch_size=1 << 20)
    return emb.embed  # the caller slices the batches: one session call per slice


def time_embedding(
    fn: Callable[[Chips], Any], chips: Chips, batch: int, repeat: int
) -> dict[str, float]:
    """Best (least disturbed) of ``repeat`` passes over all chips, per face."""
    fn(chips[:batch])  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(chips), batch):
            fn(chips[i : i + batch])
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    best = int(np.argmin(walls))
    return {
        "per_face_ms": 1e3 * walls[best] / len(chips),
        "median_per_face_ms": 1e3 * statistics.median(walls) / len(chips),
        "cpu_per_face_ms": 1e3 * min(cpus) / len(chips),
        "cpu_per_wall": cpus[best] / walls[best],
    }


def worker_embed(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads == 1:
        pin_to_one_cpu()
    chips = np.load(args.chips)
    fn = make_embed_fn(args.backend, args.threads)
    return time_embedding(fn, chips, args.batch, args.repeat)


def five_points(shape: Any) -> npt.NDArray[np.float32]:
    p = np.array([(q.x, q.y) for q in shape.parts()], np.float32)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def batches(items: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def e2e_faceprint(files: Sequence[Path], threads: int) -> dict[str, float]:
    from faceprint.embed.dlib_onnx import DlibOnnxEmbedder
    from faceprint.imageio import load_image
    from faceprint.pipeline import FaceAnalyzer

    fa = FaceAnalyzer("dlib", embedder=DlibOnnxEmbedder(threads=threads))
    fa.analyze(load_image(files[0]))  # warm-up
    t0, c0, faces = time.perf_counter(), time.process_time(), 0
    for chunk in batches(files, 32):
        faces += sum(len(f) for f in fa.analyze_many(load_image(p) for p in chunk))
    return e2e_result(len(files), faces, t0, c0)


def e2e_result(images: int, faces: int, t0: float, c0: float) -> dict[str, float]:
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "images_per_s": images / wall,
        "images_per_cpu_s": images / cpu,
        "faces": faces,
        "wall_s": wall,
        "cpu_s": cpu,
    }


def e2e_face_recognition(files: Sequence[Path]) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition

    face_recognition.face_encodings(face_recognition.load_image_file(files[0]))  # warm-up
    t0, c0, faces = time.perf_counter(), time.process_time(), 0
    for p in files:
        img = face_recognition.load_image_file(str(p))
        faces += len(face_recognition.face_encodings(img, face_recognition.face_locations(img, 1)))
    return e2e_result(len(files), faces, t0, c0)


def profile_faceprint(files: Sequence[Path], threads: int) -> dict[str, float]:
    """Mean ms per image of each stage, run one after another on the same images."""
    import dlib

    from faceprint.align import DLIB_150, align_faces
    from faceprint.embed.dlib_onnx import DlibOnnxEmbedder
    from faceprint.imageio import load_image
    from faceprint.packs import get_pack

    pack = get_pack("dlib")
    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(pack.file("landmarks")))
    emb = DlibOnnxEmbedder(threads=threads)
    stages = dict.fromkeys(("decode", "hog_detector", "landmarks_68", "align", "embed"), 0.0)

    @contextlib.contextmanager
    def clock(stage: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        stages[stage] += time.perf_counter() - t

    faces = 0
    for p in files:
        with clock("decode"):
            img = load_image(p)
        with clock("hog_detector"):
            rects = hog.run(img, 1, 0.0)[0]
        with clock("landmarks_68"):
            pts = [five_points(predictor(img, r)) for r in rects]
        if not pts:
            continue
        faces += len(pts)
        with clock("align"):
            chips = align_faces(img, np.stack(pts), DLIB_150)
        with clock("embed"):
            emb.embed(chips)
    out = {f"{k}_ms_per_image": 1e3 * v / len(files) for k, v in stages.items()}
    out["total_ms_per_image"] = sum(out.values())
    out["faces"] = faces
    return out


def worker_e2e(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads == 1:
        pin_to_one_cpu()
    files = [Path(line) for line in Path(args.files).read_text().splitlines()]
    if args.pipeline == "faceprint":
        return e2e_faceprint(files, args.threads)
    if args.pipeline == "profile":
        return profile_faceprint(files, args.threads)
    return e2e_face_recognition(files)


# ---------------------------------------------------------------------------------------------
# driver


def run_worker(argv: list[str], threads: int) -> dict[str, Any]:
    env = single_thread_env() if threads == 1 else dict(os.environ)
    cmd = [sys.executable, __file__, "--worker", *argv, "--threads", str(threads)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit(f"worker {argv} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def lfw_chips(files: Sequence[Path], n: int) -> Chips:
    from faceprint.align import DLIB_150, align_faces
    from faceprint.imageio import load_image
    from faceprint.packs import get_pack

    detector = get_pack("dlib").create_detector()
    chips: list[Chips] = []
    for f in files:
        img = load_image(f)
        chips.extend(align_faces(img, detector.detect(img).landmarks, DLIB_150))
        if len(chips) >= n:
            break
    return np.stack(chips[:n])


def bench_embedding(args: argparse.Namespace, tmp: Path, all_threads: int) -> list[dict[str, Any]]:
    chips_path = tmp / "chips.npy"
    np.save(chips_path, lfw_chips(lfw_sample(args.faces * 2), args.faces))
    rows = []
    for backend in ("dlib", "onnx"):
        for threads in (1, all_threads):
            for batch in (1, 32):
                argv = ["embed", "--backend", backend, "--batch", str(batch)]
                argv += ["--chips", str(chips_path), "--repeat", str(args.repeat)]
                r = run_worker(argv, threads)
                rows.append({"backend": backend, "threads": threads, "batch": batch, **r})
                print(
                    f"  {backend:5s} threads={threads} batch={batch:2d}: "
                    f"{r['per_face_ms']:7.2f} ms/face",
                    file=sys.stderr,
                )
    return rows


def bench_e2e(args: argparse.Namespace, tmp: Path, all_threads: int) -> list[dict[str, Any]]:
    files_path = tmp / "files.txt"
    files_path.write_text("\n".join(map(str, lfw_sample(args.images))))
    runs = [
        ("faceprint", 1),
        ("faceprint", all_threads),
        ("face_recognition", 1),
        ("face_recognition", all_threads),
        ("profile", 1),
    ]
    rows = []
    for pipeline, threads in runs:
        r = run_worker(["e2e", "--pipeline", pipeline, "--files", str(files_path)], threads)
        rows.append({"pipeline": pipeline, "threads": threads, **r})
        print(f"  {pipeline} threads={threads}: {r}", file=sys.stderr)
    return rows


def ratio_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["backend"], r["threads"], r["batch"]): r for r in rows}
    base = by[("dlib", 1, 1)]["per_face_ms"]
    base_cpu = by[("dlib", 1, 1)]["cpu_per_face_ms"]
    out = []
    for (backend, threads, batch), r in by.items():
        out.append(
            {
                "backend": backend,
                "threads": threads,
                "batch": batch,
                "per_face_ms": r["per_face_ms"],
                "cpu_per_face_ms": r["cpu_per_face_ms"],
                "cpu_per_wall": r["cpu_per_wall"],
                "cpu_speedup_vs_dlib_1thread_batch1": base_cpu / r["cpu_per_face_ms"],
                "speedup_vs_dlib_1thread_batch1": base / r["per_face_ms"],
                "speedup_vs_dlib_same_setting": by[("dlib", threads, batch)]["per_face_ms"]
                / r["per_face_ms"],
            }
        )
    return out


def print_report(result: dict[str, Any]) -> None:
    print(f"machine: {result['machine']}")
    print("\nper-face embedding time, same chips, same run (best of repeats)")
    print(
        f"{'backend':8s} {'threads':>7s} {'batch':>5s} {'ms/face':>9s} {'cpu/wall':>8s} "
        f"{'vs dlib 1t b1':>13s} {'vs dlib same':>12s} {'cpu ms/face':>11s} {'cpu vs dlib':>11s}"
    )
    for r in result["embedding"]:
        print(
            f"{r['backend']:8s} {r['threads']:7d} {r['batch']:5d} {r['per_face_ms']:9.2f} "
            f"{r['cpu_per_wall']:8.2f} {r['speedup_vs_dlib_1thread_batch1']:12.1f}x "
            f"{r['speedup_vs_dlib_same_setting']:11.1f}x {r['cpu_per_face_ms']:11.2f} "
            f"{r['cpu_speedup_vs_dlib_1thread_batch1']:10.1f}x"
        )
    print("(cpu ms/face: process CPU time, all threads; for 1-thread runs it is robust to other")
    print(" load on the machine, wall time is not)")
    if not result.get("end_to_end"):
        return
    print(f"\nend to end on {result['images']} LFW images")
    for r in result["end_to_end"]:
        if r["pipeline"] == "profile":
            continue
        print(
            f"  {r['pipeline']:17s} threads={r['threads']}: {r['images_per_s']:6.2f} images/s, "
            f"{r['images_per_cpu_s']:6.2f} images per CPU-second ({r['faces']} faces)"
        )
    e2e = {(r["pipeline"], r["threads"]): r for r in result["end_to_end"]}
    for t in sorted({r["threads"] for r in result["end_to_end"]}):
        if ("faceprint", t) in e2e and ("face_recognition", t) in e2e:
            fp, fr = e2e[("faceprint", t)], e2e[("face_recognition", t)]
            wall = fp["images_per_s"] / fr["images_per_s"]
            cpu = fp["images_per_cpu_s"] / fr["images_per_cpu_s"]
            print(f"  faceprint / face_recognition, threads={t}: {wall:.2f}x (CPU time {cpu:.2f}x)")
    prof = e2e.get(("profile", 1))
    if prof:
        print("\nfaceprint stage profile, 1 thread (ms per image):")
        for k, v in prof.items():
            if k.endswith("_ms_per_image"):
                print(f"  {k.removesuffix('_ms_per_image'):14s} {v:7.2f}")


def machine() -> dict[str, Any]:
    import dlib
    import onnxruntime

    return {
        "cpu": platform.processor() or platform.machine(),
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "dlib": dlib.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=64, help="chips timed per configuration")
    ap.add_argument("--repeat", type=int, default=3, help="passes per configuration (best kept)")
    ap.add_argument("--images", type=int, default=500, help="LFW images for the end-to-end run")
    ap.add_argument("--skip-e2e", action="store_true", help="only the per-face embedding table")
    ap.add_argument("--json", metavar="PATH", help="also write the raw numbers here ('-': stdout)")
    ap.add_argument("--worker", choices=["embed", "e2e"], help=argparse.SUPPRESS)
    ap.add_argument("--backend", choices=["dlib", "onnx"], help=argparse.SUPPRESS)
    ap.add_argument(
        "--pipeline", choices=["faceprint", "face_recognition", "profile"], help=argparse.SUPPRESS
    )
    ap.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--chips", help=argparse.SUPPRESS)
    ap.add_argument("--files", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        out = worker_embed(args) if args.worker == "embed" else worker_e2e(args)
        print(json.dumps(out))
        return
    all_threads = len(os.sched_getaffinity(0))
    result: dict[str, Any] = {"machine": machine(), "faces": args.faces, "images": args.images}
    with tempfile.TemporaryDirectory(prefix="faceprint-bench-") as tmp:
        result["embedding"] = ratio_table(bench_embedding(args, Path(tmp), all_threads))
        if not args.skip_e2e:
            result["end_to_end"] = bench_e2e(args, Path(tmp), all_threads)
    print_report(result)
    if args.json:
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
