"""What the read-only check before opening a gallery costs, against the whole open.

``Gallery.open`` first looks at ``gallery.sqlite`` read-only (``faceprint._sqlite.probe``: schema
version and tables) so that a file that is not a gallery is refused untouched. This times that
look and a whole ``Gallery.open(...)`` + ``close()`` of a gallery of ``--templates`` random
128-d templates, wall and CPU time, in the same run.

    python benchmarks/bench_gallery_open.py --templates 10000 --repeats 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from faceprint import _sqlite
from faceprint.gallery import Gallery


def clock(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """Mean (wall ms, CPU ms) of ``n`` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - wall) / n * 1e3, (time.process_time() - cpu) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "g"
        vecs = np.random.default_rng(0).normal(size=(args.templates, 128))
        with Gallery.create(folder) as gallery:
            gallery.add_embeddings([f"p{i}" for i in range(args.templates)], vecs)
        db = folder / "gallery.sqlite"

        def open_close() -> None:
            Gallery.open(folder).close()

        open_close()
        for _ in range(args.repeats):
            pw, pc = clock(lambda: _sqlite.probe(db), 200)
            ow, oc = clock(open_close, 20)
            print(
                f"probe {pw:.2f} ms wall {pc:.2f} ms CPU | open+close ({args.templates} templates)"
                f" {ow:.1f} ms wall {oc:.1f} ms CPU | probe/open CPU {pc / oc:.1%}"
            )


if __name__ == "__main__":
    main()
