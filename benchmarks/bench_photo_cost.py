"""CPU cost of one large photo through the default pipeline (docs/scale.md, the 100M plan).

    PYTHONPATH=src python benchmarks/bench_photo_cost.py --size 4000x3000

A shared photo (two faces) is upscaled to ``--size`` and saved as a JPEG (quality 92) in memory;
then the CPU time (``time.process_time``, so the machine's load does not inflate it) of decoding
it, and of decoding + detecting + aligning + embedding it with one single-threaded analyzer of
the default pack, averaged over ``--repeats`` runs after a warm-up.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

DATA = Path(
    os.environ.get("FACEPRINT_DATA", Path(__file__).resolve().parents[1] / "../shared/data")
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    from PIL import Image

    from faceprint.batch import EngineConfig
    from faceprint.imageio import load_image

    w, h = (int(v) for v in args.size.split("x"))
    with Image.open(DATA / "photos/face_recognition/two_people.jpg") as src:
        big = src.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    fa = EngineConfig().analyzer(threads=1)
    faces = fa.analyze(load_image(data))
    for name, step in [
        ("decode", lambda: load_image(data)),
        ("decode + detect + align + embed", lambda: fa.analyze(load_image(data))),
    ]:
        t = time.process_time()
        for _ in range(args.repeats):
            step()
        cpu = (time.process_time() - t) / args.repeats
        print(f"{name}: {cpu:.3f} CPU s per {w}x{h} photo ({len(data) // 1024} KB JPEG)")
    print(f"faces found: {len(faces)}")


if __name__ == "__main__":
    main()
