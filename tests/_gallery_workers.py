"""Subprocess bodies for the gallery's multi-process tests.

python _gallery_workers.py enroll-folders GALLERY ROOT DELAY
python _gallery_workers.py writer GALLERY BATCHES BATCH_SIZE
python _gallery_workers.py reader GALLERY UNTIL_COUNT OUT.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from faceprint.gallery import Gallery

DIM = 128


def person_vector(i: int) -> np.ndarray:
    v = np.random.default_rng(1000 + i).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def enroll_folders(gallery: str, root: str, delay: str) -> None:
    from _gallery_fakes import fake_analyzer

    g = Gallery.open(gallery) if Gallery.exists(gallery) else Gallery.create(gallery, "dlib")
    for outcome in g.iter_enroll_folders(root, fake_analyzer(float(delay)), append=True):
        print(outcome.status, outcome.path, flush=True)
    g.close()


def writer(gallery: str, batches: str, size: str) -> None:
    with Gallery.open(gallery) as g:
        n = int(size)
        for b in range(int(batches)):
            ids = range(50 + b * n, 50 + (b + 1) * n)  # p0..p49 exist before
            g.add_embeddings([f"p{i}" for i in ids], np.stack([person_vector(i) for i in ids]))
            time.sleep(0.02)


def reader(gallery: str, until: str, out: str) -> None:
    """Read and identify until the gallery holds ``until`` templates (prints ``ready`` once open)."""
    counts, checked = [], 0
    rng = np.random.default_rng()
    with Gallery.open(gallery) as g:
        print("ready", flush=True)
        deadline = time.monotonic() + 600  # a ceiling against a hang, not an expectation
        while not counts or counts[-1] < int(until):
            if time.monotonic() > deadline:
                raise AssertionError(f"the writer never reached {until} templates: {counts[-1]}")
            counts.append(g.template_count)
            names = [i.name for i in g.identities()]
            for name in rng.choice(names, size=min(5, len(names)), replace=False):
                (r,) = g.identify(person_vector(int(name[1:])), threshold=0.99)
                if r.name != name:
                    raise AssertionError(f"{name} identified as {r.name} ({r.similarity})")
                checked += 1
    Path(out).write_text(json.dumps({"counts": counts, "checked": checked}))


if __name__ == "__main__":
    {"enroll-folders": enroll_folders, "writer": writer, "reader": reader}[sys.argv[1]](
        *sys.argv[2:]
    )
