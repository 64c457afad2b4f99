"""Model packs from files: TOML manifests and insightface-style model folders.

A **manifest** (``pack.toml``) names a detector file and a recognizer file, with their
checksums, the recognizer's normalisation and embedding size, the decision threshold and the
licence. Paths are relative to the manifest::

    description = "YuNet + MobileFaceNet"     # optional
    licence = "MIT (YuNet); ... "             # required: shown wherever the threshold is
    metric = "cosine"                         # optional; cosine is the only metric
    threshold = 0.45                          # optional; see "uncalibrated" below
    threshold_source = "LFW View 2, 10-fold"  # optional

    [detector]
    file = "face_detection_yunet_2023mar.onnx"
    sha256 = "8f2383e4..."                    # optional, verified when the model is loaded
    backend = "yunet"                         # optional: scrfd | retinaface | yunet, else
                                              # recognised from the graph's outputs
    options = { score_threshold = 0.9 }       # optional keyword options of the backend

    [recognizer]
    file = "mobilefacenet.onnx"
    sha256 = "f055d9c9..."
    embedding_size = 128                      # optional: read from the graph when left out
    input_mean = 127.5                        # optional pair: else detected from the graph
    input_std = 128.0
    color = "rgb"                             # optional, rgb (default) or bgr

A **folder** without a manifest (``~/.insightface/models/buffalo_l``) is recognised by the role
of each ``.onnx`` file, read from its inputs and outputs: a detector has 9 or 15 outputs
(SCRFD with keypoints), 12 (YuNet) or 3 (RetinaFace); a recognizer has one 112×112×3 input and
one ``(N, D)`` output with ``D >= 64``. Other models (``2d106det.onnx``, ``1k3d68.onnx``,
``genderage.onnx``) are skipped with a log line. A folder must hold exactly one detector and one
recognizer.

**Uncalibrated thresholds.** A pack that declares no threshold (every folder pack) gets
:data:`UNCALIBRATED_THRESHOLDS` for its embedding size and a ``threshold_source`` that starts
with ``UNCALIBRATED``: run ``faceprint calibrate`` on labelled pairs of your own and write the
result into a manifest.

**Packs in FACEPRINT_HOME.** Every folder ``$FACEPRINT_HOME/packs/NAME/`` (a ``pack.toml``, or
a model folder) is a pack called ``NAME`` (see :func:`home_pack_names`).

**Names.** A pack loaded from a path is named by that path made absolute, so that
``get_pack(pack.name)`` finds it again (galleries and caches record the name of their pack).
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faceprint._hashing import sha256_file
from faceprint._home import faceprint_home
from faceprint._onnx_graph import MIN_EMBEDDING_SIZE, OnnxRole, inspect_onnx
from faceprint.align import ARCFACE_112
from faceprint.errors import ModelError
from faceprint.packs.spec import PackSpec

__all__ = [
    "MANIFEST_NAME",
    "MIN_EMBEDDING_SIZE",
    "UNCALIBRATED_THRESHOLDS",
    "OnnxRole",
    "file_status",
    "find_home_pack",
    "home_pack_names",
    "inspect_onnx",
    "load_folder",
    "load_manifest",
    "load_pack_path",
    "uncalibrated_threshold",
]

logger = logging.getLogger(__name__)

#: the manifest file a pack folder may hold
MANIFEST_NAME = "pack.toml"

#: Cosine thresholds for recognizers nobody calibrated, by embedding size. 128: 0.28, about the
#: MobileFaceNet fixture's best threshold on LFW View 1 (0.27-0.31 with the four ONNX detectors;
#: docs/packs.md); another 128-d model may need a very different one. 512: 0.30, a prior
#: for ArcFace-ResNet models (insightface's w600k_r50, glintr100), not measured: no such file
#: was available. Other sizes: 0.30.
UNCALIBRATED_THRESHOLDS: Mapping[int, float] = {128: 0.28, 512: 0.30}

INSIGHTFACE_PACKS = ("antelopev2", "buffalo_l", "buffalo_m", "buffalo_s", "buffalo_sc")
INSIGHTFACE_LICENCE = (
    "insightface pretrained models: non-commercial research use only (check the source of "
    "these files)"
)
UNKNOWN_LICENCE = "unknown: no licence declared for these files; check where they came from"

_TOP_KEYS = {"description", "licence", "metric", "threshold", "threshold_source"}
_ROLE_KEYS = {
    "detector": {"file", "sha256", "backend", "options"},
    "recognizer": {
        "file",
        "sha256",
        "backend",
        "options",
        "embedding_size",
        "input_mean",
        "input_std",
        "color",
    },
}
_DETECTOR_BACKENDS = ("scrfd", "retinaface", "yunet")


def uncalibrated_threshold(dim: int) -> tuple[float, str]:
    """Default threshold for ``dim``-d embeddings and its loud ``threshold_source``."""
    value = UNCALIBRATED_THRESHOLDS.get(dim, 0.30)
    return value, (
        f"UNCALIBRATED: default for {dim}-d embeddings; run `faceprint calibrate` on your own "
        "labelled pairs and put the threshold in a pack manifest"
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ModelError(f"pack manifest not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"pack manifest {path} is not valid TOML: {exc}") from exc


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = table.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ModelError(f"{where}: {key!r} must be {names}, got {value!r}")
    return value


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str, what: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ModelError(
            f"{where}: unknown {what} {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _role_table(data: Mapping[str, Any], role: str, where: str) -> Mapping[str, Any]:
    table = data.get(role)
    if not isinstance(table, dict):
        raise ModelError(f"{where}: a [{role}] table with a 'file' is required")
    _check_keys(table, _ROLE_KEYS[role], f"{where} [{role}]", "key")
    if not isinstance(table.get("file"), str):
        raise ModelError(f'{where}: [{role}] needs file = "NAME.onnx" (relative to the manifest)')
    return table


def load_manifest(path: str | Path, *, verify: bool = True, name: str | None = None) -> PackSpec:
    """A :class:`PackSpec` from a TOML manifest.

    Args:
        path: the manifest file.
        verify: check that every file exists and matches its sha256 now (otherwise that is done
            when the models are loaded).
        name: the pack's name (default: the manifest's absolute path, so that
            ``get_pack(pack.name)`` finds the pack again, e.g. when a gallery reopens).

    Raises:
        ModelError: malformed manifest, unknown table (role) or key, or with ``verify`` a missing
            file or a checksum mismatch; the message names the manifest or the file.
    """
    path = Path(path).expanduser()
    data = _read_toml(path)
    where = f"pack manifest {path}"
    tables = {k for k, v in data.items() if isinstance(v, dict)}
    _check_keys({k: 0 for k in tables}, set(_ROLE_KEYS), where, "role (table)")
    _check_keys({k: 0 for k in data if k not in tables}, _TOP_KEYS, where, "key")
    det, rec = _role_table(data, "detector", where), _role_table(data, "recognizer", where)
    base = path.parent
    files = {"detector": base / det["file"], "embedder": base / rec["file"]}
    dim = _embedding_size(rec, files["embedder"], where)
    sha = {
        r: str(t["sha256"]).lower()
        for r, t in (("detector", det), ("embedder", rec))
        if _get(t, "sha256", str, where)
    }
    pack = PackSpec(
        name=name or str(path.resolve()),
        detector=_detector_backend(det, files["detector"], where),
        embedder=_get(rec, "backend", str, where) or "arcface-onnx",
        dim=dim,
        crop=ARCFACE_112,
        licence=_licence(data, where),
        files=files,
        sha256=sha,
        metric=_metric(data, where),
        detector_options=dict(_get(det, "options", dict, where) or {}),
        embedder_options={
            **_normalisation(rec, where),
            **(_get(rec, "options", dict, where) or {}),
        },
        description=_get(data, "description", str, where) or f"pack from {path}",
        **_threshold(data, dim, where),
    )
    if verify:
        pack.verify_files()
    return pack


def _licence(data: Mapping[str, Any], where: str) -> str:
    licence = _get(data, "licence", str, where)
    if not licence:
        raise ModelError(
            f"{where}: 'licence' is required (the terms of the model files; write \"unknown\" "
            "if you do not know them)"
        )
    return str(licence)


def _metric(data: Mapping[str, Any], where: str) -> Any:
    metric = _get(data, "metric", str, where) or "cosine"
    if metric != "cosine":
        raise ModelError(f"{where}: metric must be 'cosine' (unit embeddings), got {metric!r}")
    return metric


def _detector_backend(table: Mapping[str, Any], file: Path, where: str) -> str:
    backend = _get(table, "backend", str, where)
    if backend:
        if backend not in _DETECTOR_BACKENDS:
            raise ModelError(
                f"{where}: unknown detector backend {backend!r}; known: "
                f"{', '.join(_DETECTOR_BACKENDS)}"
            )
        return str(backend)
    if not file.is_file():
        raise ModelError(
            f"{where}: detector file not found: {file} (and no 'backend' to use without it)"
        )
    found = inspect_onnx(file)
    if found.role != "detector":
        raise ModelError(f"{where}: {file} is not a face detector ({found.reason})")
    return found.backend


def _embedding_size(table: Mapping[str, Any], file: Path, where: str) -> int:
    dim = _get(table, "embedding_size", int, where)
    if dim is not None:
        if dim < 1:
            raise ModelError(f"{where}: embedding_size must be >= 1, got {dim}")
        return int(dim)
    if not file.is_file():
        raise ModelError(
            f"{where}: recognizer file not found: {file} (and no 'embedding_size' to use "
            "without it)"
        )
    found = inspect_onnx(file)
    if found.role != "recognizer" or not found.dim:
        raise ModelError(f"{where}: {file} is not a recognizer with a known size ({found.reason})")
    return found.dim


def _normalisation(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    mean = _get(table, "input_mean", (int, float), where)
    std = _get(table, "input_std", (int, float), where)
    if (mean is None) != (std is None):
        raise ModelError(f"{where}: declare both input_mean and input_std, or neither")
    color = _get(table, "color", str, where) or "rgb"
    if color not in ("rgb", "bgr"):
        raise ModelError(f"{where}: color must be 'rgb' or 'bgr', got {color!r}")
    out: dict[str, Any] = {"color": color}
    if mean is not None:
        out.update(input_mean=float(mean), input_std=float(std))
    return out


def _threshold(data: Mapping[str, Any], dim: int, where: str) -> dict[str, Any]:
    value = _get(data, "threshold", (int, float), where)
    source = _get(data, "threshold_source", str, where)
    if value is not None:
        if not -1.0 <= value <= 1.0:
            raise ModelError(f"{where}: a cosine threshold lies in [-1, 1], got {value}")
        return {"threshold": float(value), "threshold_source": source or f"declared in {where}"}
    threshold, marker = uncalibrated_threshold(dim)
    return {"threshold": threshold, "threshold_source": marker}


def load_folder(path: str | Path, *, name: str | None = None) -> PackSpec:
    """A :class:`PackSpec` from a folder of ``.onnx`` files (insightface layout).

    Checksums are those of the files found now; the threshold is uncalibrated.

    Raises:
        ModelError: no or several detectors or recognizers in the folder.
    """
    folder = Path(path).expanduser()
    found: dict[str, list[tuple[Path, OnnxRole]]] = {"detector": [], "recognizer": []}
    for file in sorted(folder.glob("*.onnx")):
        role = inspect_onnx(file)
        if role.role == "other":
            logger.info("%s: skipping %s: %s", folder, file.name, role.reason)
            continue
        logger.info("%s: %s is the %s (%s)", folder, file.name, role.role, role.reason)
        found[role.role].append((file, role))
    det, rec = _one(found, "detector", folder), _one(found, "recognizer", folder)
    threshold, source = uncalibrated_threshold(rec[1].dim)
    pack_name = name or str(folder.resolve())
    return PackSpec(
        name=pack_name,
        detector=det[1].backend,
        embedder=rec[1].backend,
        dim=rec[1].dim,
        threshold=threshold,
        threshold_source=source,
        crop=ARCFACE_112,
        licence=INSIGHTFACE_LICENCE if folder.name in INSIGHTFACE_PACKS else UNKNOWN_LICENCE,
        files={"detector": det[0], "embedder": rec[0]},
        sha256={"detector": sha256_file(det[0]), "embedder": sha256_file(rec[0])},
        description=f"model folder {folder} ({det[0].name} + {rec[0].name})",
    )


def _one(
    found: Mapping[str, list[tuple[Path, OnnxRole]]], role: str, folder: Path
) -> tuple[Path, OnnxRole]:
    items = found[role]
    if len(items) == 1:
        return items[0]
    if not items:
        raise ModelError(
            f"no {role} .onnx file in {folder}; a model folder needs one face detector "
            "(SCRFD, RetinaFace or YuNet) and one 112x112 recognizer"
        )
    names = ", ".join(p.name for p, _ in items)
    raise ModelError(
        f"several {role}s in {folder} ({names}); write a {MANIFEST_NAME} there naming the one "
        "to use"
    )


def load_pack_path(path: str | Path, *, name: str | None = None) -> PackSpec:
    """A pack from a manifest file, or a folder (its ``pack.toml`` if any, else its models).

    Manifest checksums are verified when the models are loaded, not here.
    """
    p = Path(path).expanduser()
    name = name or str(p.resolve())
    if p.is_dir():
        manifest = p / MANIFEST_NAME
        if manifest.is_file():
            return load_manifest(manifest, verify=False, name=name)
        return load_folder(p, name=name)
    if p.is_file():
        return load_manifest(p, verify=False, name=name)
    raise ModelError(f"pack path not found: {p}")


def _home_packs_dir() -> Path:
    return faceprint_home() / "packs"


def home_pack_names() -> list[str]:
    """Names of the pack folders in ``$FACEPRINT_HOME/packs`` (a manifest or ``.onnx`` files)."""
    root = _home_packs_dir()
    if not root.is_dir():
        return []
    return sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir() and ((d / MANIFEST_NAME).is_file() or any(d.glob("*.onnx")))
    )


def find_home_pack(name: str) -> PackSpec | None:
    """The pack ``$FACEPRINT_HOME/packs/NAME``, or ``None`` when there is no such folder."""
    if name not in home_pack_names():
        return None
    return load_pack_path(_home_packs_dir() / name, name=name)


def file_status(pack: PackSpec, *, checksums: bool = False) -> dict[str, str]:
    """Per role: ``missing``, ``present`` or, with ``checksums``, ``ok`` / ``sha256 mismatch`` /
    ``no sha256 declared``."""
    out = {}
    for role, file in pack.files.items():
        path = Path(file)
        if not path.is_file():
            out[role] = "missing"
        elif not checksums:
            out[role] = "present"
        elif not pack.sha256.get(role):
            out[role] = "no sha256 declared"
        else:
            ok = sha256_file(path) == pack.sha256[role].lower()
            out[role] = "ok" if ok else "sha256 mismatch"
    return out
