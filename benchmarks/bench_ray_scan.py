"""Ray overhead: ``library scan`` with the local engine vs the Ray backend at equal worker counts.

    PYTHONPATH=src python benchmarks/bench_ray_scan.py --workers 2 --rounds 2 \\
        --tree photos=/work/shared/data/photos \\
        --tree lfw2000=/work/shared/data/lfw/images_deepfunneled:2000 \\
        --json /tmp/ray_scan.json

Each round scans every tree into a fresh library twice, local then Ray, and the next round Ray
then local (alternating the order, as the machine is shared). Ray runs on this machine
(``ray.init(num_cpus=workers)``, started once before the timed scans, like a running cluster
that ``--ray ADDRESS`` joins); both engines start their workers and load their models inside
the timed scan. ``TREE:N`` takes the first N image files of the tree (sorted paths), copied into
a temporary folder (the library's walk does not follow symbolic links). The 1-minute load average is recorded around each scan.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


def _tree(spec: str, tmp: Path) -> tuple[str, Path, int]:
    name, _, where = spec.partition("=")
    path, _, limit = where.partition(":")
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not limit:
        return name, root, len(files)
    dest = tmp / name
    for f in files[: int(limit)]:
        target = dest / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return name, dest, min(len(files), int(limit))


def _scan(root: Path, tmp: Path, engine: str, workers: int) -> dict[str, Any]:
    from faceprint.library import Library

    path = Path(tempfile.mkdtemp(dir=tmp)) / "lib"
    load = os.getloadavg()[0]
    with Library.create(path) as lib:
        t = time.perf_counter()
        report = lib.scan(root, workers=workers, ray="auto" if engine == "ray" else None)
        seconds = time.perf_counter() - t
    return {
        "engine": engine,
        "seconds": seconds,
        "photos": report.added,
        "faces": report.faces_added,
        "errors": len(report.errors),
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tree", action="append", required=True, help="NAME=PATH[:N]")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    import ray

    ray.init(num_cpus=args.workers, include_dashboard=False, object_store_memory=300 << 20,
             logging_level="WARNING", log_to_driver=False,
             _system_config={"worker_niceness": 0})  # as faceprint's own local instance  # fmt: skip
    out: dict[str, Any] = {"workers": args.workers, "trees": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="fp-ray-scan-") as tmpdir:
            tmp = Path(tmpdir)
            for spec in args.tree:
                name, root, count = _tree(spec, tmp)
                runs = []
                for r in range(args.rounds):
                    order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
                    for engine in order:
                        run = _scan(root, tmp, engine, args.workers)
                        print(f"{name} round {r}: {run}", file=sys.stderr, flush=True)
                        runs.append(run)
                local = sum(x["seconds"] for x in runs if x["engine"] == "local")
                ray_s = sum(x["seconds"] for x in runs if x["engine"] == "ray")
                out["trees"][name] = {"root": str(root), "files": count, "runs": runs,
                                      "ray_over_local": ray_s / local}  # fmt: skip
                print(f"{name}: Ray / local = {ray_s / local:.3f}", file=sys.stderr, flush=True)
    finally:
        ray.shutdown()
    text = json.dumps(out, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
