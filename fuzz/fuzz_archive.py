"""Fuzz the gallery archive importer: :meth:`faceprint.gallery.Gallery.import_from` on untrusted
export files.

Half the inputs are raw zip bytes; the other half (first byte odd) are a ``gallery.json`` text put
into a well-formed zip with valid embeddings and thumbnails, which reaches the field checks.
Every input must be imported or refused with a :class:`~faceprint.errors.FaceprintError` that
left the gallery as it was (its template count is checked after each refusal); anything else is
a finding.

    python fuzz/fuzz_archive.py --seconds 300
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Target, run

DIM = 128


def _vectors(n: int) -> bytes:
    import numpy as np

    v = np.random.default_rng(n).normal(size=(n, DIM)).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, v / np.linalg.norm(v, axis=1, keepdims=True))
    return buf.getvalue()


def _zip(doc: bytes, n: int = 2) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("gallery.json", doc)
        zf.writestr("embeddings.npy", _vectors(n))
        for i in range(n):
            zf.writestr(f"thumbnails/{i:07d}.jpg", b"\xff\xd8 thumbnail")
    return buf.getvalue()


def _doc(n: int = 2) -> dict:
    return {
        "format": "faceprint-gallery",
        "version": 1,
        "pack": "dlib",
        "dim": DIM,
        "identities": [
            {"name": f"p{i}", "metadata": {"k": i}, "created_at": "t", "updated_at": "t"}
            for i in range(n)
        ],
        "templates": [
            {"identity": i, "source": f"{i}.jpg", "box": [1, 2, 3, 4], "pack": "dlib",
             "created_at": "t", "thumbnail": f"thumbnails/{i:07d}.jpg"}
            for i in range(n)
        ],
    }  # fmt: skip


def make_target() -> Target:
    from faceprint.errors import FaceprintError
    from faceprint.gallery import Gallery

    folder = Path(tempfile.mkdtemp(prefix="fuzz-archive-"))
    state = {"gallery": Gallery.create(folder / "g0", "dlib"), "n": 0}
    path = folder / "in.zip"

    def target(data: bytes) -> None:
        g = state["gallery"]
        if data[:1] and data[0] % 2:
            data = _zip(data[1:])
        path.write_bytes(data)
        before = g.template_count
        try:
            added = g.import_from(path, append=True)
        except FaceprintError as exc:
            if g.template_count != before:
                raise AssertionError(f"a refused import changed the gallery: {exc}") from exc
            return
        if g.template_count != before + added:
            raise AssertionError("an import did not add what it reported")
        if g.template_count > 2000:  # start over with a fresh gallery now and then
            g.close()
            state["n"] += 1
            state["gallery"] = Gallery.create(folder / f"g{state['n']}", "dlib")

    return target


def seeds() -> list[bytes]:
    text = json.dumps(_doc()).encode()
    return [
        _zip(text),
        b"\x01" + text,
        b"\x01" + json.dumps(_doc(1)).encode(),
        b"\x03" + json.dumps({**_doc(), "version": 2}).encode(),
    ]


if __name__ == "__main__":
    sys.exit(run("archive", make_target, seeds))
