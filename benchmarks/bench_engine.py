"""Whole-process speed of faceprint's batch engine against face_recognition, as a user sees it.

Each contender runs as its own process on the same files in the same run; wall time and CPU
time (user + system of the process and its children) are measured from outside.

    python benchmarks/bench_engine.py embed --n 500            # faceprint embed vs face_recognition
    python benchmarks/bench_engine.py enroll --n 500           # enroll --folders (knn_examples + LFW)
    python benchmarks/bench_engine.py startup                  # faceprint verify on two photos
    python benchmarks/bench_engine.py memory --n 13233         # RSS while streaming LFW

Data: FACEPRINT_DATA (default ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(
    os.environ.get("FACEPRINT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
LFW = DATA / "lfw" / "images_deepfunneled"

FACE_RECOGNITION = """
import sys, face_recognition
n = 0
for path in sys.argv[1:]:
    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image)          # HOG, upsample 1
    n += len(face_recognition.face_encodings(image, boxes))  # 5-point landmarks, 1 jitter
print(n)
"""


def lfw_files(n: int) -> list[str]:
    """The first ``n`` LFW images in name order."""
    files = sorted(str(p) for p in LFW.glob("*/*.jpg"))
    if len(files) < n:
        sys.exit(f"only {len(files)} LFW images under {LFW}")
    return files[:n]


def timed(cmd: list[str], ok: tuple[int, ...] = (0,), **kw: object) -> dict[str, float]:
    """Wall and CPU seconds of one child process (and its children); exits unless its status
    is one of ``ok``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok:
        sys.exit(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "stdout": proc.stdout.strip()[-4000:]}


def faceprint_cmd() -> list[str]:
    exe = shutil.which("faceprint")
    return [exe] if exe else [sys.executable, "-m", "faceprint.cli"]


def bench_embed(n: int) -> dict[str, object]:
    files = lfw_files(n)
    with tempfile.TemporaryDirectory() as tmp:
        fp = timed([*faceprint_cmd(), "embed", *files, "--out", f"{tmp}/e.npz", "--quiet"])
        fr = timed([sys.executable, "-c", FACE_RECOGNITION, *files])
    return _ratios("embed", n, fp, fr)


def bench_enroll(n: int) -> dict[str, object]:
    """``enroll --folders`` over knn_examples/train plus LFW people (n images in all)."""
    train = DATA / "photos" / "face_recognition" / "knn_examples" / "train"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "people"
        shutil.copytree(train, root)
        have = sum(1 for _ in root.glob("*/*"))
        for f in lfw_files(n - have):
            dest = root / Path(f).parent.name
            dest.mkdir(exist_ok=True)
            os.symlink(f, dest / Path(f).name)
        files = sorted(str(p) for p in root.glob("*/*"))
        fp = timed(
            [*faceprint_cmd(), "enroll", "--gallery", f"{tmp}/g", "--folders", str(root), "--quiet"]
        )
        fr = timed([sys.executable, "-c", FACE_RECOGNITION, *files])
    return _ratios("enroll --folders", len(files), fp, fr)


def _ratios(what: str, n: int, fp: dict[str, float], fr: dict[str, float]) -> dict[str, object]:
    return {
        "task": what,
        "images": n,
        "faceprint": fp,
        "face_recognition": fr,
        "wall_ratio": round(fr["wall_s"] / fp["wall_s"], 2),
        "cpu_ratio": round(fr["cpu_s"] / fp["cpu_s"], 2),
    }


def bench_startup(repeat: int) -> dict[str, object]:
    photos = DATA / "photos" / "face_recognition"
    cmd = [*faceprint_cmd(), "verify", str(photos / "obama.jpg"), str(photos / "obama2.jpg")]
    runs = [timed(cmd, ok=(0, 1)) for _ in range(repeat)]
    imp = timed([sys.executable, "-c", "import faceprint.cli"])
    return {
        "task": "faceprint verify obama.jpg obama2.jpg",
        "wall_s": sorted(r["wall_s"] for r in runs),
        "cpu_s": sorted(r["cpu_s"] for r in runs),
        "import_cli_wall_s": imp["wall_s"],
    }


def bench_memory(n: int) -> dict[str, object]:
    """RSS of a process streaming ``n`` LFW images through the engine (sampled as it goes)."""
    code = f"""
import json, os, resource, sys
from faceprint.batch import analyze_iter
files = {lfw_files(n)!r}
marks = {{}}
def rss(pid='self'):
    with open(f'/proc/{{pid}}/status') as fh:
        for line in fh:
            if line.startswith('VmRSS'):
                return int(line.split()[1]) // 1024
def workers():
    me = os.getpid()
    with open(f'/proc/{{me}}/task/{{me}}/children') as fh:
        return [rss(p) for p in fh.read().split()]
if __name__ == '__main__':
    for r in analyze_iter(files):
        done = r.index + 1
        if done in (1000, 5000, 10000, 13000, len(files)):
            marks[done] = {{"parent": rss(), "workers": workers()}}
    print(json.dumps(marks))
"""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(code)
    out = timed([sys.executable, fh.name])
    os.unlink(fh.name)
    marks = json.loads(out["stdout"].splitlines()[-1])
    return {"task": "stream LFW through analyze_iter", "images": n, "rss_mib_after": marks, **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["embed", "enroll", "startup", "memory"])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.what == "embed":
        result = bench_embed(args.n)
    elif args.what == "enroll":
        result = bench_enroll(args.n)
    elif args.what == "startup":
        result = bench_startup(args.repeat)
    else:
        result = bench_memory(args.n)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
