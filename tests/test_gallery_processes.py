"""A gallery survives a SIGKILL mid-enrolment and serves readers while another process writes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _gallery_fakes import PEOPLE, fake_analyzer, person_image, write_image
from _gallery_workers import person_vector
from faceprint.gallery import Gallery

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "_gallery_workers.py"


def _spawn(*args: str, stdout: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.Popen(
        [sys.executable, str(WORKERS), *args],
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


def _committed(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM templates").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_folder_enrolment_leaves_a_consistent_gallery(tmp_path: Path) -> None:
    root = tmp_path / "people"
    for name in PEOPLE:
        for k in range(12):
            write_image(root / name / f"{k:02d}.png", person_image(name, 40 + 3 * k, 10 + 2 * k))
    gdir = tmp_path / "gallery"
    proc = _spawn("enroll-folders", str(gdir), str(root), "0.05")
    deadline = time.monotonic() + 60
    while _committed(gdir / "gallery.sqlite") < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    committed = _committed(gdir / "gallery.sqlite")
    assert 8 <= committed < 60, "the kill must land part-way"

    with Gallery.open(gdir) as g:  # opens; the index is rebuilt from what was committed
        assert g._store._scalar("PRAGMA integrity_check") == "ok"
        assert g.template_count == committed == len(g.index)
        assert all(i.template_count >= 1 for i in g.identities())
        first = g.identities()[0]
        (template,) = g.templates(first.name)[:1]
        assert first.name in PEOPLE and g.thumbnail(template.id) is not None
        probe = fake_analyzer().analyze(person_image(first.name))
        assert g.identify(probe, threshold=0.99)[0].name == first.name

    done = _spawn("enroll-folders", str(gdir), str(root), "0")  # resume: appends the rest
    _out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err.decode()[-2000:]
    with Gallery.open(gdir) as g:
        assert g.template_count == 60
        assert {i.name: i.template_count for i in g.identities()} == {n: 12 for n in PEOPLE}


def test_two_readers_while_a_third_process_enrols(tmp_path: Path) -> None:
    gdir = tmp_path / "gallery"
    with Gallery.create(gdir, "dlib") as g:
        g.add_embeddings(
            [f"p{i}" for i in range(50)], np.stack([person_vector(i) for i in range(50)])
        )
    readers = [
        _spawn("reader", str(gdir), "1550", str(tmp_path / f"r{i}.json"), stdout=subprocess.PIPE)
        for i in range(2)
    ]
    for r in readers:  # both have the gallery open before the writer starts
        assert r.stdout is not None and r.stdout.readline() == b"ready\n"
    writer = _spawn("writer", str(gdir), "30", "50")
    for p in [writer, *readers]:
        _out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
    with Gallery.open(gdir) as g:
        assert g.template_count == 1550 and len(g) == 1550
    for i in range(2):
        seen = json.loads((tmp_path / f"r{i}.json").read_text())
        counts = seen["counts"]
        assert counts == sorted(counts) and counts[0] >= 50 and seen["checked"] > 0
        assert counts[-1] == 1550, "the readers must have seen the writer's new templates"
