"""False accepts of templates built from video tracks and library clusters vs from photos.

A gallery template is what a stranger is compared with. For each of ``--people`` LFW people with
at least four photos, templates are built from the first three photos in the ways faceprint
builds them, and compared with the fourth photo of every other person (impostors). A pair is a
false accept when the best similarity over the person's templates clears the pack's threshold.

* ``photo``: one enrolment photo, one embedding (``Gallery.enroll``); ``photos3``: three
  photos, three templates (the anchor for the kinds that keep up to three);
* ``video_before``: what naming a video's ``unknown_N`` stored before: the mean embedding of a
  track's faces, whatever their size. Faces on screen are simulated by shrinking each photo until
  its face is ``SIZE`` pixels tall and blurring it (``--blur``), as a frame shows it;
* ``video``: what it stores now: the single best (largest) face, only when its box is at least
  :data:`faceprint.gallery.enroll.MIN_TEMPLATE_FACE` pixels (else no template: enrol from a photo);
* ``library_before`` / ``library``: a cluster's representative faces
  (``faceprint.library.labels.representatives``, one template each) of faces ``SIZE`` pixels
  tall (not blurred), without and with the same size gate.

Every size of ``--sizes`` is one row; impostor probes are the fourth photo as is and shrunk to
the same size (a group photo's faces). The Hamilton clip's ``unknown_1`` named 7 of the 24 faces
of ``bald_guys.jpg`` before; ``tests/test_video_real.py`` checks that case.

    nice -n 10 python benchmarks/bench_template_far.py --data ../shared/data/lfw --people 150
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from faceprint import FaceAnalyzer
from faceprint.gallery.enroll import MIN_TEMPLATE_FACE
from faceprint.imageio import load_image
from faceprint.library.labels import representatives
from faceprint.library.quality import face_quality, face_size

Vec = npt.NDArray[np.float32]
LFW_FACE = 115.0  # height of a deep-funneled LFW face box in its 250-px image (about)


def shrink(rgb: npt.NDArray[np.uint8], face_px: float, blur: float) -> npt.NDArray[np.uint8]:
    """``rgb`` resized so that its face is about ``face_px`` tall, then blurred by ``blur``."""
    scale = face_px / LFW_FACE
    size = (max(16, round(rgb.shape[1] * scale)), max(16, round(rgb.shape[0] * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (0, 0), blur) if blur > 0 else small


def embed(fa: FaceAnalyzer, rgb: npt.NDArray[np.uint8]) -> tuple[Vec, float, float] | None:
    """The largest face's embedding, box height and library quality (``None``: no face)."""
    faces = fa.analyze(rgb)
    if not len(faces) or faces.embeddings is None:
        return None
    i = int(
        np.argmax((faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1]))
    )
    return faces.embeddings[i], face_size(faces.boxes[i]), face_quality(faces.boxes[i], None)


def unit(v: Vec) -> Vec:
    return (v / np.linalg.norm(v)).astype(np.float32)


def people(lfw: Path, n: int) -> list[list[Path]]:
    root = lfw / "images_deepfunneled"
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        if len(files) >= 4:
            found.append(files[:4])
        if len(found) == n:
            break
    return found


def far(
    templates: dict[int, list[Vec]], probes: dict[int, Vec], threshold: float
) -> dict[str, float]:
    """False-accept rate over (person with a template, impostor probe) pairs."""
    accepts = pairs = 0
    for who, vecs in templates.items():
        if not vecs:
            continue
        t = np.stack(vecs)
        for other, probe in probes.items():
            if other != who:
                pairs += 1
                accepts += int(float((t @ probe).max()) >= threshold)
    return {"far": round(accepts / pairs, 5) if pairs else None, "pairs": pairs, "accepts": accepts}


KINDS = ("photo", "photos3", "video_before", "video", "library_before", "library")


def build(
    fa: FaceAnalyzer, imgs: list[npt.NDArray[np.uint8]], size: float, blur: float
) -> dict[str, list[Vec]]:
    """Every kind's templates of one person (an empty list: no template is built)."""
    clean = [e for e in (embed(fa, im) for im in imgs[:3]) if e]
    frames = [e for e in (embed(fa, shrink(im, size, blur)) for im in imgs[:3]) if e]
    faces = [e for e in (embed(fa, shrink(im, size, 0.0)) for im in imgs[:3]) if e]
    out: dict[str, list[Vec]] = {k: [] for k in KINDS}
    out["photo"] = [clean[0][0]] if clean else []
    out["photos3"] = [e[0] for e in clean]
    if frames:
        out["video_before"] = [unit(np.mean([e[0] for e in frames], axis=0))]
        best = max(frames, key=lambda e: e[1])
        out["video"] = [best[0]] if best[1] >= MIN_TEMPLATE_FACE else []
    out["library_before"] = representative(faces)
    out["library"] = representative([e for e in faces if e[1] >= MIN_TEMPLATE_FACE])
    return out


def representative(faces: list[tuple[Vec, float, float]]) -> list[Vec]:
    if not faces:
        return []
    emb = np.stack([e[0] for e in faces])
    return [emb[i] for i in representatives(emb, np.asarray([e[2] for e in faces], np.float32))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    ap.add_argument("--pack", default="dlib")
    ap.add_argument("--people", type=int, default=150)
    ap.add_argument("--sizes", type=float, nargs="+", default=[48.0, 72.0, 96.0, 115.0])
    ap.add_argument("--blur", type=float, default=0.8, help="Gaussian sigma of video frames, px")
    ap.add_argument("--out", type=Path, default=Path("bench-results/template_far.json"))
    args = ap.parse_args(argv)
    fa = FaceAnalyzer(args.pack)
    threshold = fa.threshold
    sets = people(args.data, args.people)
    rows = []
    for size in args.sizes:
        templates: dict[str, dict[int, list[Vec]]] = {k: {} for k in KINDS}
        clean: dict[int, Vec] = {}
        small: dict[int, Vec] = {}
        for who, files in enumerate(sets):
            imgs = [load_image(f) for f in files]
            for kind, vecs in build(fa, imgs, size, args.blur).items():
                templates[kind][who] = vecs
            probe = embed(fa, imgs[3])
            if probe:
                clean[who] = probe[0]
            probe_small = embed(fa, shrink(imgs[3], size, 0.0))
            if probe_small:
                small[who] = probe_small[0]
            print(f"\rface {size:.0f} px: {who + 1}/{len(sets)} people", end="", file=sys.stderr)
        print(file=sys.stderr)
        rows.append(
            {
                "face_px": size,
                "built": {k: sum(1 for v in templates[k].values() if v) for k in KINDS},
                "far_clean_probes": {k: far(templates[k], clean, threshold) for k in KINDS},
                "far_small_probes": {k: far(templates[k], small, threshold) for k in KINDS},
            }
        )
    report = {
        "pack": args.pack,
        "threshold": threshold,
        "people": len(sets),
        "video_blur_sigma": args.blur,
        "min_template_face_px": MIN_TEMPLATE_FACE,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"pack {args.pack}, threshold {threshold:.4f}, {len(sets)} people; FAR in % (clean / small probes)"
    )
    print("face px | " + " | ".join(KINDS))
    for r in rows:
        cells = [
            "-"
            if r["far_clean_probes"][k]["far"] is None
            else f"{100 * r['far_clean_probes'][k]['far']:.2f} / {100 * r['far_small_probes'][k]['far']:.2f}"
            f" (n={r['built'][k]})"
            for k in KINDS
        ]
        print(f"{r['face_px']:.0f} | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
