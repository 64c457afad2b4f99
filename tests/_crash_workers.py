"""Subprocess bodies for the crash, disk-full and concurrency tests.

Each prints ``ack KEY`` (flushed) only after the change KEY is committed, so the parent knows
what was acknowledged when it kills the process.

python _crash_workers.py enrol GALLERY FIRST LAST          add p{FIRST}..p{LAST-1}, one per commit
python _crash_workers.py batches GALLERY PREFIX N SIZE     N commits of SIZE templates of PREFIXk
python _crash_workers.py append GALLERY NAME TAG N         N commits of one template to NAME
python _crash_workers.py switch GALLERY ROUNDS B1,B2,...   switch the index backend in turn
python _crash_workers.py import GALLERY ARCHIVE...         import each archive (skip imported)
python _crash_workers.py search GALLERY STOPFILE OUT.json   identify until STOPFILE exists
python _crash_workers.py fill GALLERY OP LIMIT_BYTES       one write under RLIMIT_FSIZE
"""

from __future__ import annotations

import hashlib
import json
import resource
import signal
import sys
import time
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.gallery import Gallery

DIM = 128


def vector(key: str) -> np.ndarray:
    """The unit vector of a name (the same in every process)."""
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def ack(key: str) -> None:
    sys.stdout.write(f"ack {key}\n")
    sys.stdout.flush()


def _open(gallery: str) -> Gallery:
    return Gallery.open(gallery) if Gallery.exists(gallery) else Gallery.create(gallery, "dlib")


def enrol(gallery: str, first: str, last: str) -> None:
    with _open(gallery) as g:
        for i in range(int(first), int(last)):
            name = f"p{i}"
            if name in g:  # a resumed run skips what is there
                continue
            g.add_embeddings([name], vector(name)[None], sources=[f"{name}.jpg"])
            ack(name)


def batches(gallery: str, prefix: str, n: str, size: str) -> None:
    with _open(gallery) as g:
        for b in range(int(n)):
            name = f"{prefix}{b}"
            rows = np.stack([vector(f"{name}/{k}") for k in range(int(size))])
            g.add_embeddings([name] * int(size), rows, append=True)
            ack(name)


def append(gallery: str, name: str, tag: str, n: str) -> None:
    """N commits, each adding one template to the same identity NAME (created if absent)."""
    with _open(gallery) as g:
        for i in range(int(n)):
            g.add_embeddings([name], vector(f"{name}/{tag}{i}")[None], append=True)
            ack(f"{tag}{i}")


def switch(gallery: str, rounds: str, backends: str) -> None:
    names = backends.split(",")
    with Gallery.open(gallery) as g:
        for r in range(int(rounds)):
            backend = names[r % len(names)]
            g.set_index(backend)
            ack(f"{r}:{backend}")


def import_(gallery: str, *archives: str) -> None:
    with _open(gallery) as g:
        for path in archives:
            if f"{Path(path).stem}-0" in g:
                continue
            g.import_from(path)
            ack(Path(path).stem)


def search(gallery: str, stop: str, out: str) -> None:
    """Identify every enrolled name's vector until the file ``stop`` appears and at least 25
    were checked; record errors (none may reach a user). Prints ``ready`` once open."""
    checked, errors, partial = 0, [], 0
    with Gallery.open(gallery) as g:
        print("ready", flush=True)
        deadline = time.monotonic() + 600  # a ceiling against a hang, not an expectation
        while (checked < 25 or not Path(stop).exists()) and time.monotonic() < deadline:
            idents = g.identities()
            for ident in idents:  # a batch is committed whole or not seen at all
                if ident.name.startswith("b") and ident.template_count not in (10,):
                    partial += 1
            for ident in [i for i in idents if i.name != "shared"][-5:]:
                try:
                    key = f"{ident.name}/0" if ident.name.startswith("b") else ident.name
                    (r,) = g.identify(vector(key), threshold=0.99)
                    if r.name != ident.name:
                        errors.append(f"{ident.name} identified as {r.name}")
                except FaceprintError as exc:
                    errors.append(str(exc))
                checked += 1
    Path(out).write_text(json.dumps({"checked": checked, "errors": errors, "partial": partial}))


def fill(gallery: str, op: str, limit: str) -> None:
    """One write path with files capped at LIMIT bytes (SIGXFSZ ignored, so writes get EFBIG)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if int(limit) > 0:
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
    try:
        with Gallery.open(gallery) as g:
            _fill_op(g, op, Path(gallery))
    except FaceprintError as exc:
        print(f"refused {type(exc).__name__}: {exc}", flush=True)
        sys.exit(3)
    print("done", flush=True)


def _fill_op(g: Gallery, op: str, folder: Path) -> None:
    if op == "add":
        names = [f"big{i}" for i in range(4000)]
        g.add_embeddings(
            names, np.stack([vector(n) for n in names]), thumbnails=[b"t" * 600] * 4000
        )
    elif op == "index":
        g.set_index("exact-f16")
        g.set_index("hnsw")
    elif op == "export":
        g.export_to(folder.parent / "export.zip")
    elif op == "import":
        g.import_from(folder.parent / "big.zip")
    elif op == "remove":
        g.remove("p0", vacuum=True)
    else:
        raise SystemExit(f"unknown op {op}")


if __name__ == "__main__":
    commands = {
        "enrol": enrol,
        "batches": batches,
        "switch": switch,
        "append": append,
        "import": import_,
        "search": search,
        "fill": fill,
    }
    commands[sys.argv[1]](*sys.argv[2:])
