"""Several processes enrolling, appending and searching one gallery at once.

No acknowledged update is lost (two processes appending to the same identity end with every
template), no reader ever sees half of a commit (identities added with 10 templates in one
transaction are seen with all 10 or not at all), and no "database is locked" reaches a caller
(every worker exits 0 and records no error).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _crash_workers import vector
from faceprint.gallery import Gallery
from test_crash_consistency import check_open, spawn

pytestmark = pytest.mark.slow


def test_writers_and_readers_at_once(tmp_path: Path) -> None:
    gdir = tmp_path / "g"
    names = [f"p{i}" for i in range(50)]
    with Gallery.create(gdir, "dlib") as g:
        g.add_embeddings(names, np.stack([vector(n) for n in names]))
    stop = tmp_path / "stop"  # readers search until the writers are done
    readers = [
        spawn("search", str(gdir), str(stop), str(tmp_path / f"r{i}.json")) for i in range(2)
    ]
    for r in readers:  # both have the gallery open before the first writer starts
        assert r.stdout is not None and r.stdout.readline() == "ready\n"
    writers = [
        spawn("batches", str(gdir), "ba", "25", "10"),
        spawn("batches", str(gdir), "bb", "25", "10"),
        spawn("enrol", str(gdir), "50", "200"),
        spawn("append", str(gdir), "shared", "x", "60"),
        spawn("append", str(gdir), "shared", "y", "60"),
    ]
    acks: list[str] = []
    for proc in [*writers, None, *readers]:
        if proc is None:
            stop.touch()
            continue
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        assert "locked" not in err.lower()
        acks += [ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith("ack ")]
    counts = check_open(gdir)
    assert counts["shared"] == 120, "an append was lost"
    assert all(counts[f"{p}{b}"] == 10 for p in ("ba", "bb") for b in range(25))
    assert all(counts[f"p{i}"] == 1 for i in range(200))
    assert len(counts) == 200 + 50 + 1 and len(acks) == 50 + 150 + 120
    for i in range(2):
        seen = json.loads((tmp_path / f"r{i}.json").read_text())
        assert seen["errors"] == [] and seen["partial"] == 0
        assert seen["checked"] >= 25
    with Gallery.open(gdir) as g:
        found = g.identify(np.stack([vector("shared/x7"), vector("bb3/4")]), threshold=0.99)
        assert [f.name for f in found] == ["shared", "bb3"]
