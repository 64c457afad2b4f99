"""Fuzz the model-pack manifest parser: :func:`faceprint.packs.manifest.load_manifest` on
untrusted ``pack.toml`` bytes (next to two tiny generated ONNX graphs).

Every input must give a pack or a :class:`~faceprint.errors.FaceprintError` (``ModelError``,
``InvalidArgumentError``); anything else is a finding.

    python fuzz/fuzz_manifest.py --seconds 300
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _harness import Target, run  # noqa: E402

SEED_MANIFESTS = [
    'licence = "x"\n[detector]\nfile = "det.onnx"\n[recognizer]\nfile = "rec.onnx"\n',
    'description = "d"\nlicence = "MIT"\nmetric = "cosine"\nthreshold = 0.4\n'
    'threshold_source = "s"\n[detector]\nfile = "det.onnx"\nbackend = "scrfd"\n'
    'options = { score_threshold = 0.5 }\n[recognizer]\nfile = "rec.onnx"\n'
    'embedding_size = 512\ninput_mean = 127.5\ninput_std = 127.5\ncolor = "rgb"\n',
    'licence = "x"\n[detector]\nfile = "det.onnx"\nsha256 = "' + "0" * 64 + '"\n'
    '[recognizer]\nfile = "rec.onnx"\nembedding_size = 128\n',
]


def make_target() -> Target:
    from _tiny_onnx import multi_output, recognizer
    from faceprint.errors import FaceprintError
    from faceprint.packs.manifest import load_manifest

    folder = Path(tempfile.mkdtemp(prefix="fuzz-manifest-"))
    multi_output(folder / "det.onnx", 9)
    recognizer(folder / "rec.onnx", dim=512)
    path = folder / "pack.toml"

    def target(data: bytes) -> None:
        path.write_bytes(data)
        try:
            load_manifest(path)
        except FaceprintError as exc:
            if not str(exc).strip():
                raise AssertionError(f"empty message: {exc!r}") from exc

    return target


def seeds() -> list[bytes]:
    return [m.encode() for m in SEED_MANIFESTS]


if __name__ == "__main__":
    sys.exit(run("manifest", make_target, seeds))
