"""SIGKILL at random moments during enrolment, index switching and archive import.

Each scenario kills a worker process (``tests/_crash_workers.py``) at least 20 times at a random
moment after it has started changing the gallery. After every kill the gallery opens, passes
SQLite's integrity check, holds every acknowledged change exactly once (and nothing half-done),
and its index agrees with SQLite; finally a resumed run ends equal to an uninterrupted one.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from _crash_workers import vector
from faceprint.gallery import Gallery

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "_crash_workers.py"
ROUNDS = 20


def spawn(*args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, str(WORKERS), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_at_random(proc: subprocess.Popen[str], rng: random.Random, max_delay: float) -> list[str]:
    """SIGKILL ``proc`` a random time after its first acknowledgement; every key it acked."""
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the worker is in its loop of changes
    time.sleep(rng.uniform(0.0, max_delay))
    proc.send_signal(signal.SIGKILL)
    rest, err = proc.communicate(timeout=60)
    lines = (first + rest).splitlines()
    assert proc.returncode in (-signal.SIGKILL, 0), err[-2000:]
    return [ln.split(" ", 1)[1] for ln in lines if ln.startswith("ack ")]


def finish(*args: str) -> list[str]:
    proc = spawn(*args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return [ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith("ack ")]


def check_open(gdir: Path) -> dict[str, int]:
    """Open the gallery, check SQLite and the index; {name: template count}."""
    with Gallery.open(gdir) as g:
        assert g._store._scalar("PRAGMA integrity_check") == "ok"
        counts = {i.name: i.template_count for i in g.identities()}
        assert len(g.index) == g.template_count == sum(counts.values())
        assert set(np.asarray(g.index.ids()).tolist()) == set(g._store.template_map()[0].tolist())
    return counts


def content(gdir: Path) -> dict[str, list[bytes]]:
    """Every identity's embeddings (bytes, in template order): what "equal galleries" means."""
    with Gallery.open(gdir) as g:
        ids, vecs = g._store.embeddings(g.dim)
        owner = dict(zip(*g._store.template_map()))
        names = g._store.identity_names()
        out: dict[str, list[bytes]] = {}
        for tid, vec in zip(ids.tolist(), vecs):
            out.setdefault(names[owner[tid]], []).append(vec.tobytes())
    return out


# --- enrolment -----------------------------------------------------------------------------------
def test_sigkill_during_enrolment(tmp_path: Path) -> None:
    rng = random.Random(1)
    gdir, total = tmp_path / "g", 3000  # more than 20 short rounds can enrol on a fast machine
    acked: set[str] = set()
    for _ in range(ROUNDS):
        acked |= set(kill_at_random(spawn("enrol", str(gdir), "0", str(total)), rng, 0.1))
        counts = check_open(gdir)
        assert acked <= set(counts), "an acknowledged enrolment was lost"
        assert set(counts.values()) == {1}, "a name enrolled twice or half"
        assert set(counts) <= {f"p{i}" for i in range(total)}
    assert 0 < len(acked) < total, "the kills must land part-way"
    finish("enrol", str(gdir), "0", str(total))  # resume
    reference = tmp_path / "ref"
    finish("enrol", str(reference), "0", str(total))  # uninterrupted
    assert content(gdir) == content(reference)
    with Gallery.open(gdir) as g:
        assert g.identify(vector("p123"), threshold=0.99)[0].name == "p123"


# --- index switching -------------------------------------------------------------------------------
BACKENDS = "exact-f16,hnsw,exact-int8,binary,exact"


def test_sigkill_during_index_switching(tmp_path: Path) -> None:
    rng = random.Random(2)
    gdir = tmp_path / "g"
    names = [f"p{i}" for i in range(800)]
    with Gallery.create(gdir, "dlib") as g:
        g.add_embeddings(names, np.stack([vector(n) for n in names]))
    probes = rng.sample(names, 10)
    for _ in range(ROUNDS):
        kill_at_random(spawn("switch", str(gdir), "50", BACKENDS), rng, 0.5)
        check_open(gdir)
        with Gallery.open(gdir) as g:
            assert g.index.name == g.settings.index_backend in BACKENDS.split(",")
            for name in probes:
                assert g.identify(vector(name), threshold=0.9)[0].name == name
    finish("switch", str(gdir), "1", "exact")  # resume: end on the exact backend
    with Gallery.open(gdir) as g:
        assert g.index.name == "exact" and len(g.index) == 800
        found = [m[0].name for m in g.search(np.stack([vector(n) for n in probes]), top_k=1)]
    assert found == probes


# --- archive import --------------------------------------------------------------------------------
def make_archive(path: Path, n: int) -> Path:
    """An export holding identities STEM-0..STEM-(n-1), one template each."""
    names = [f"{path.stem}-{i}" for i in range(n)]
    doc = {
        "format": "faceprint-gallery",
        "version": 1,
        "pack": "dlib",
        "dim": 128,
        "identities": [{"name": x, "metadata": {}, "created_at": "t", "updated_at": "t"} for x in names],
        "templates": [
            {"identity": i, "source": f"{x}.jpg", "box": None, "thumbnail": None}
            for i, x in enumerate(names)
        ],
    }  # fmt: skip
    buf = io.BytesIO()
    np.save(buf, np.stack([vector(x) for x in names]))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("gallery.json", json.dumps(doc))
        zf.writestr("embeddings.npy", buf.getvalue())
    return path


def test_sigkill_during_archive_import(tmp_path: Path) -> None:
    rng = random.Random(3)
    # more archives than 20 short rounds can import on a fast machine, so the kills land part-way
    archives = [str(make_archive(tmp_path / f"a{k:02d}.zip", 100)) for k in range(80)]
    gdir = tmp_path / "g"
    acked: set[str] = set()
    for _ in range(ROUNDS):
        acked |= set(kill_at_random(spawn("import", str(gdir), *archives), rng, 0.05))
        counts = check_open(gdir)
        assert set(counts.values()) <= {1}
        present = {name.rsplit("-", 1)[0] for name in counts}
        for stem in present:  # all or nothing per archive
            assert all(f"{stem}-{i}" in counts for i in range(100)), f"{stem} half imported"
        assert acked <= present, "an acknowledged import was lost"
    assert 0 < len(acked) < len(archives), "the kills must land part-way"
    finish("import", str(gdir), *archives)
    reference = tmp_path / "ref"
    finish("import", str(reference), *archives)
    assert content(gdir) == content(reference)
