"""Photo-library scan speed against ageitgey/face_recognition on the same full-size photos.

Two folders are made from the shared photos (``$FACEPRINT_DATA/photos``): every photo at its
native resolution, and a subset upscaled to about 12 megapixels (Lanczos, JPEG quality 92), the
size of a phone photo. On each, in the same run:

* **faceprint**: ``Library.scan`` of the folder (the whole product path: walk, engine worker
  processes, detection on a copy downscaled to ``--max-side``, batched embeddings, thumbnails,
  hashing, EXIF, SQLite commits);
* **face_recognition**: its documented API per file (``load_image_file``, ``face_locations``
  (HOG, upsample 1), ``face_encodings``), one process, as its users run it.

Reported per folder: images per second of wall time and of CPU time (this process plus its
worker processes), and the annotated faces found (the 43 boxes of ``dlib_faces/*.xml``, scaled
with their photos; a face counts as found when a detection's centre lies in the annotated box
and the annotation's centre in the detection, one detection per face).

``--rescan`` times a re-scan of an unchanged tree of LFW's 13,233 files: the library rows are
built first from the real files (their size, mtime and SHA-256) without decoding them, then
``Library.scan`` runs over the tree and must find every file unchanged.

    python benchmarks/bench_library_scan.py --out /tmp/bench_scan            # speed table
    python benchmarks/bench_library_scan.py --out /tmp/bench_scan --rescan   # 13k re-scan
    python benchmarks/bench_library_scan.py --out /tmp/bench_scan --pack yunet-mobilefacenet
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.library import Library
from faceprint.library.store import LibraryStore
from faceprint.library.walk import sha256_file, walk_tree
from faceprint.pipeline import DEFAULT_MAX_SIDE

ROOT = Path(__file__).resolve().parents[1]
TWELVE_MP = 12_000_000
#: photos upscaled to 12 MP by default: the annotated group photos and a few portraits
MP12_DEFAULT = (
    "dlib_faces/2008_002470.jpg",
    "dlib_faces/2008_002506.jpg",
    "dlib_faces/2008_004176.jpg",
    "dlib_faces/2008_007676.jpg",
    "dlib_faces/2007_007763.jpg",
    "dlib_faces/2008_001009.jpg",
    "dlib_faces/2008_001322.jpg",
    "dlib_faces/2008_002079.jpg",
    "dlib_faces/2009_004587.jpg",
    "face_recognition/obama.jpg",
    "face_recognition/two_people.jpg",
    "facenet_pytorch/multiface.jpg",
)


def data_root() -> Path:
    return Path(os.environ.get("FACEPRINT_DATA", ROOT.parent / "shared" / "data")).resolve()


def cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


# --- the folders ------------------------------------------------------------------------------


def annotations(photos: Path) -> dict[str, list[tuple[float, float, float, float]]]:
    """Annotated face boxes (x1, y1, x2, y2) per ``dlib_faces/NAME``."""
    boxes: dict[str, list[tuple[float, float, float, float]]] = {}
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(photos / "dlib_faces" / xml).getroot().iter("image"):
            key = "dlib_faces/" + image.attrib["file"]
            for b in image.iter("box"):
                x, y = float(b.attrib["left"]), float(b.attrib["top"])
                w, h = float(b.attrib["width"]), float(b.attrib["height"])
                boxes.setdefault(key, []).append((x, y, x + w, y + h))
    return boxes


def native_folder(photos: Path, out: Path) -> Path:
    folder = out / "native"
    if not folder.exists():
        for src in sorted(photos.rglob("*")):
            if src.suffix.lower() in (".jpg", ".jpeg", ".png") and src.is_file():
                dst = folder / src.relative_to(photos)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
    return folder


def twelve_mp_folder(
    photos: Path, out: Path, names: tuple[str, ...]
) -> tuple[Path, dict[str, float]]:
    """The photos upscaled to ~12 MP; returns the folder and each photo's scale factor."""
    folder = out / "mp12"
    scales = {}
    for name in names:
        with Image.open(photos / name) as img:
            rgb = img.convert("RGB")
        scale = (TWELVE_MP / (rgb.width * rgb.height)) ** 0.5
        scales[name] = scale
        dst = (folder / name).with_suffix(".jpg")
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            size = (round(rgb.width * scale), round(rgb.height * scale))
            rgb.resize(size, Image.Resampling.LANCZOS).save(dst, quality=92)
    return folder, scales


# --- the runs ---------------------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    folder: str
    images: int
    wall_s: float
    cpu_s: float
    faces: int
    annotated_found: int
    annotated: int

    @property
    def per_s_wall(self) -> float:
        return self.images / self.wall_s

    @property
    def per_s_cpu(self) -> float:
        return self.images / self.cpu_s


def run_faceprint(
    folder: Path,
    lib_dir: Path,
    workers: int | None,
    max_side: int,
    pack: str | None = None,
    augment: str | None = None,
) -> tuple[dict[str, np.ndarray], float, float, int]:
    if lib_dir.exists():
        shutil.rmtree(lib_dir)
    with Library.create(lib_dir, pack=pack, augment=augment) as lib:  # type: ignore[arg-type]
        report = lib.scan(folder, workers=workers, max_side=max_side)
        assert not report.errors, report.errors
        boxes: dict[str, list[tuple[float, ...]]] = {}
        for path, x1, y1, x2, y2 in lib._store.query(
            "SELECT p.path, f.x1, f.y1, f.x2, f.y2 FROM faces f JOIN photos p ON p.id = f.photo_id"
        ):
            boxes.setdefault(path, []).append((x1, y1, x2, y2))
    found = {k: np.asarray(v, np.float32) for k, v in boxes.items()}
    return found, report.seconds, report.cpu_seconds, report.added


def run_face_recognition(
    files: list[Path], folder: Path
) -> tuple[dict[str, np.ndarray], float, float]:
    import face_recognition

    found: dict[str, np.ndarray] = {}
    start, cpu0 = time.perf_counter(), cpu_seconds()
    for path in files:
        img = face_recognition.load_image_file(str(path))
        locs = face_recognition.face_locations(img)  # HOG, upsample 1 (its defaults)
        face_recognition.face_encodings(img, locs)
        # (top, right, bottom, left) -> x1, y1, x2, y2
        found[path.relative_to(folder).as_posix()] = np.asarray(
            [(left, t, r, b) for t, r, b, left in locs], np.float32
        ).reshape(-1, 4)
    return found, time.perf_counter() - start, cpu_seconds() - cpu0


def matched(truth: list[tuple[float, ...]], found: np.ndarray) -> int:
    """Annotated boxes found: mutual centre containment, one detection per face."""
    used: set[int] = set()
    hits = 0
    for x1, y1, x2, y2 in truth:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        for j, (a1, b1, a2, b2) in enumerate(found):
            if j in used:
                continue
            dx, dy = (a1 + a2) / 2, (b1 + b2) / 2
            if x1 <= dx <= x2 and y1 <= dy <= y2 and a1 <= cx <= a2 and b1 <= cy <= b2:
                used.add(j)
                hits += 1
                break
    return hits


def score(
    found: dict[str, np.ndarray],
    truth: dict[str, list[tuple[float, ...]]],
    scales: dict[str, float] | None,
) -> tuple[int, int]:
    hits = total = 0
    for name, boxes in truth.items():
        key = name if scales is None else str(Path(name).with_suffix(".jpg"))
        if scales is not None and name not in scales:
            continue
        s = 1.0 if scales is None else scales[name]
        total += len(boxes)
        hits += matched([tuple(v * s for v in b) for b in boxes], found.get(key, np.zeros((0, 4))))
    return hits, total


def compare(name: str, folder: Path, out: Path, truth, scales, args) -> list[Run]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    lib_dir = out / f"lib_{folder.name}"
    fp, wall, cpu, n = run_faceprint(
        folder, lib_dir, args.workers, args.max_side, args.pack, args.augment
    )
    hits, total = score(fp, truth, scales)
    runs = [Run("faceprint", name, n, wall, cpu, sum(len(v) for v in fp.values()), hits, total)]
    fr, wall, cpu = run_face_recognition(files, folder)
    hits, total = score(fr, truth, scales)
    runs.append(
        Run(
            "face_recognition",
            name,
            len(files),
            wall,
            cpu,
            sum(len(v) for v in fr.values()),
            hits,
            total,
        )
    )
    return runs


# --- re-scan of an unchanged 13k-file tree ------------------------------------------------------------


def rescan(out: Path) -> dict[str, float]:
    tree = data_root() / "lfw" / "images_deepfunneled"
    lib_dir = out / "lib_lfw"
    if lib_dir.exists():
        shutil.rmtree(lib_dir)
    t0 = time.perf_counter()
    listing = walk_tree(tree.resolve())
    with Library.create(lib_dir, root=tree) as lib:
        store: LibraryStore = lib._store
        with store.transaction() as cur:
            cur.executemany(
                "INSERT INTO photos (path, size, mtime_ns, sha256, width, height, scanned_at) "
                "VALUES (?, ?, ?, ?, 250, 250, 'bench')",
                [(f.path, f.size, f.mtime_ns, sha256_file(tree / f.path)) for f in listing.files],
            )
    build = time.perf_counter() - t0
    times = []
    for _ in range(3):
        with Library.open(lib_dir) as lib:
            report = lib.scan()
        assert report.unchanged == len(listing.files) and report.added == 0, report
        times.append((report.seconds, report.cpu_seconds))
    return {
        "files": len(listing.files),
        "build_rows_s": round(build, 2),
        "rescan_wall_s": [round(w, 3) for w, _ in times],
        "rescan_cpu_s": [round(c, 3) for _, c in times],
    }


def sweep_max_side(photos: Path, sides: list[int]) -> None:
    """Annotated faces found when each annotated group photo is enlarged 2× or 3× on a 12 MP
    (4000×3000) canvas (faces of about 75–160 px, as in a wide 12 MP group shot), detecting on a
    copy downscaled to each maximum side: the measurement behind the default ``--max-side``."""
    from faceprint.pipeline import FaceAnalyzer

    truth = annotations(photos)
    for side in sides:
        fa = FaceAnalyzer(max_side=side)
        for k in (2.0, 3.0):
            hits = total = 0
            cpu0 = time.process_time()
            for name, boxes in truth.items():
                with Image.open(photos / name) as img:
                    rgb = img.convert("RGB")
                big = rgb.resize(
                    (round(rgb.width * k), round(rgb.height * k)), Image.Resampling.LANCZOS
                )
                canvas = Image.new("RGB", (4000, 3000), (90, 110, 90))
                canvas.paste(big, (500, 400))
                scaled = [
                    (x1 * k + 500, y1 * k + 400, x2 * k + 500, y2 * k + 400)
                    for x1, y1, x2, y2 in boxes
                ]
                hits += matched(scaled, fa.detect(np.asarray(canvas)).boxes)
                total += len(boxes)
            print(
                f"| {side} | {k:.0f}x ({37 * k:.0f}-{53 * k:.0f} px) | {hits}/{total} | "
                f"{time.process_time() - cpu0:.1f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="Work folder (photos copies, libraries)."
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="faceprint engine workers (default: every core)."
    )
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE or 2048)
    parser.add_argument(
        "--pack", default=None, help="faceprint's model pack (default: the default pack)."
    )
    parser.add_argument(
        "--augment", choices=("none", "flip"), default=None, help="Default: the library's (flip)."
    )
    parser.add_argument("--sets", default="native,mp12", help="Which folders: native, mp12.")
    parser.add_argument(
        "--mp12", type=int, default=len(MP12_DEFAULT), help="Photos upscaled to 12 MP."
    )
    parser.add_argument("--rescan", action="store_true", help="Only the 13k-file re-scan timing.")
    parser.add_argument(
        "--sweep-max-side", default="", help="Only the max-side sweep, e.g. 1024,1536,2048."
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.rescan:
        print(json.dumps(rescan(args.out), indent=2))
        return
    photos = data_root() / "photos"
    if args.sweep_max_side:
        print("| max side | faces enlarged | annotated found | detection CPU s |")
        print("|---|---|---|---|")
        sweep_max_side(photos, [int(v) for v in args.sweep_max_side.split(",")])
        return
    truth = annotations(photos)
    runs: list[Run] = []
    if "native" in args.sets:
        runs += compare("native", native_folder(photos, args.out), args.out, truth, None, args)
    if "mp12" in args.sets:
        folder, scales = twelve_mp_folder(photos, args.out, MP12_DEFAULT[: args.mp12])
        runs += compare("12 MP", folder, args.out, truth, scales, args)
    print(
        "| folder | tool | images | wall s | CPU s | images/s (wall) | images/s (CPU) | faces | annotated found |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r.folder} | {r.tool} | {r.images} | {r.wall_s:.1f} | {r.cpu_s:.1f} | "
            f"{r.per_s_wall:.2f} | {r.per_s_cpu:.2f} | {r.faces} | {r.annotated_found}/{r.annotated} |"
        )
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        print(
            f"{a.folder}: faceprint / face_recognition = {a.per_s_wall / b.per_s_wall:.2f}x wall, "
            f"{a.per_s_cpu / b.per_s_cpu:.2f}x CPU"
        )
    (args.out / "results.json").write_text(json.dumps([asdict(r) for r in runs], indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
