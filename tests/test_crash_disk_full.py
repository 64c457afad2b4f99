"""A full disk during every write path of a gallery: a clear error, nothing half-written presented
as valid, and the gallery opens afterwards with its previous contents.

Two ways to fill the disk: a file-size limit (``RLIMIT_FSIZE`` in the worker, with ``SIGXFSZ``
ignored so that writes fail with ``EFBIG``), which works everywhere; and a small tmpfs (``ENOSPC``),
where this machine allows mounting one (root); that variant is skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from _crash_workers import vector
from faceprint.gallery import Gallery

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "_crash_workers.py"
OPS = ["add", "index", "export", "import"]
N = 1500


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gallery of N templates with thumbnails (about 3 MB), and big.zip to import."""
    base = tmp_path_factory.mktemp("full")
    names = [f"p{i}" for i in range(N)]
    with Gallery.create(base / "gallery", "dlib") as g:
        g.add_embeddings(names, np.stack([vector(n) for n in names]), thumbnails=[b"j" * 1000] * N)
    _big_archive(base / "big.zip", 4000)
    return base


def _big_archive(path: Path, n: int) -> None:
    names = [f"imp{i}" for i in range(n)]
    doc = {
        "format": "faceprint-gallery", "version": 1, "pack": "dlib", "dim": 128,
        "identities": [{"name": x, "metadata": {}, "created_at": "t", "updated_at": "t"} for x in names],
        "templates": [{"identity": i, "source": "", "box": None, "thumbnail": None} for i in range(n)],
    }  # fmt: skip
    buf = io.BytesIO()
    np.save(buf, np.stack([vector(x) for x in names]))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("gallery.json", json.dumps(doc))
        zf.writestr("embeddings.npy", buf.getvalue())


def _content(gdir: Path) -> tuple[list[str], int, str]:
    with Gallery.open(gdir) as g:
        assert g._store._scalar("PRAGMA integrity_check") == "ok"
        assert len(g.index) == g.template_count
        names = [i.name for i in g.identities()]
        hit = g.identify(vector("p7"), threshold=0.99)[0].name
        return names, g.template_count, str(hit)


def _run(gdir: Path, op: str, limit: int) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, str(WORKERS), "fill", str(gdir), op, str(limit)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


@contextlib.contextmanager
def _tmpfs(size: int) -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="faceprint-tmpfs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()


def _check_refused(proc: subprocess.CompletedProcess[str], gdir: Path, before: object) -> None:
    assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("refused")]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert any(w in line.lower() for w in ("full", "large", "space", "i/o error")), line
    assert _content(gdir) == before
    leftovers = [p.name for p in [*gdir.parent.iterdir(), *gdir.iterdir()] if ".tmp" in p.name]
    assert not leftovers, leftovers
    export = gdir.parent / "export.zip"
    if export.exists():  # a half-written export must never be presented as valid
        with Gallery.create(gdir.parent / "probe", "dlib") as probe:
            probe.import_from(export)


@pytest.mark.parametrize("op", OPS)
def test_file_size_limit(op: str, prepared: Path, tmp_path: Path) -> None:
    gdir = shutil.copytree(prepared / "gallery", tmp_path / "gallery")
    shutil.copy(prepared / "big.zip", tmp_path / "big.zip")
    before = _content(gdir)
    db_size = (gdir / "gallery.sqlite").stat().st_size
    limit = {"add": db_size + 256 * 1024, "index": 300 * 1024}.get(op, 600 * 1024)
    if op == "import":
        limit = 1024 * 1024  # the WAL of 4000 new rows grows past 1 MB
    _check_refused(_run(gdir, op, limit), gdir, before)


@pytest.mark.parametrize("op", OPS)
def test_small_tmpfs(op: str, prepared: Path) -> None:
    size = sum(p.stat().st_size for p in (prepared / "gallery").rglob("*") if p.is_file())
    with _tmpfs(size + 3 * 1024 * 1024) as where:
        gdir = shutil.copytree(prepared / "gallery", where / "gallery")
        shutil.copy(prepared / "big.zip", where / "big.zip") if op == "import" else None
        before = _content(gdir)
        filler = where / "filler"
        free = shutil.disk_usage(where).free
        filler.write_bytes(b"\0" * max(0, free - 200 * 1024))  # leave 200 KB
        _check_refused(_run(gdir, op, 0), gdir, before)
        filler.unlink()
        assert _content(gdir) == before  # and again once space is back
