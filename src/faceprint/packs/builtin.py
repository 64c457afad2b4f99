"""Built-in ONNX packs whose model files the user provides (faceprint ships no ONNX file).

Each pack expects its files, byte for byte (their sha256 is checked when the models load), in
``$FACEPRINT_HOME/packs/NAME/``; ``faceprint models list`` shows the packs and marks missing
files. The thresholds were calibrated on LFW View 1's training pairs with these exact files
(``benchmarks/bench_lfw_packs.py``; docs/packs.md).
"""

from __future__ import annotations

from collections.abc import Callable

from faceprint._home import faceprint_home
from faceprint.align import ARCFACE_112
from faceprint.packs.registry import PackSpec, register_pack

__all__ = ["MOBILEFACENET_SHA256", "ONNX_PACKS"]

MOBILEFACENET = "mobilefacenet.onnx"
MOBILEFACENET_SHA256 = "f055d9c9a4d826d198c42666590fdefa0fdc1374a75ccb6306c3d1b1bf8f74c5"
MOBILEFACENET_OPTIONS = {"input_mean": 127.5, "input_std": 128.0, "color": "rgb"}
MOBILEFACENET_LICENCE = "MobileFaceNet file: no licence stated by its source; check before use"

#: name → (detector backend, detector file, its sha256, detector licence, threshold, description)
ONNX_PACKS: dict[str, tuple[str, str, str, str, float, str]] = {
    "yunet-mobilefacenet": (
        "yunet",
        "face_detection_yunet_2023mar.onnx",
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        "YuNet: MIT (OpenCV zoo; its training repository's LICENSE is Apache-2.0)",
        0.2726,
        "YuNet 2023mar + MobileFaceNet (128-d); files in $FACEPRINT_HOME/packs/"
        "yunet-mobilefacenet/",
    ),
    "scrfd-mobilefacenet": (
        "scrfd",
        "scrfd_500m_bnkps.onnx",
        "6c6ba7956684796d7d582bfa1ab95dfe01dd280159f6bff1e23c1bc32bcc8431",
        "SCRFD-500M (insightface architecture): no licence stated by the file's source; "
        "insightface's own pretrained models are non-commercial research only",
        0.3098,
        "SCRFD-500M + MobileFaceNet (128-d); files in $FACEPRINT_HOME/packs/scrfd-mobilefacenet/",
    ),
}

#: cosine threshold of the default clustering method for plain embeddings of the ONNX packs,
#: chosen on LFW peopleDevTrain (benchmarks/bench_cluster.py, docs/benchmarks/clustering.md)
CLUSTER_THRESHOLD = 0.50

THRESHOLD_SOURCE = (
    "best threshold on LFW View 1 training pairs (benchmarks/bench_lfw_packs.py); "
    "recalibrate on your own data with `faceprint calibrate`"
)


def _maker(name: str) -> Callable[[], PackSpec]:
    backend, file, sha, licence, threshold, description = ONNX_PACKS[name]

    def make() -> PackSpec:
        folder = faceprint_home() / "packs" / name
        return PackSpec(
            name=name,
            detector=backend,
            embedder="arcface-onnx",
            dim=128,
            threshold=threshold,
            threshold_source=THRESHOLD_SOURCE,
            cluster_thresholds={"none": CLUSTER_THRESHOLD},
            crop=ARCFACE_112,
            licence=f"{licence}; {MOBILEFACENET_LICENCE}",
            files={"detector": folder / file, "embedder": folder / MOBILEFACENET},
            sha256={"detector": sha, "embedder": MOBILEFACENET_SHA256},
            embedder_options=dict(MOBILEFACENET_OPTIONS),
            description=description,
        )

    return make


for _name in ONNX_PACKS:
    register_pack(_name, _maker(_name))
