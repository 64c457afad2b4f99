"""The one boundary between faceprint and onnxruntime.

:class:`OnnxModel` opens a model file in a CPU session and describes its inputs and outputs;
every onnxruntime error, when opening or running, becomes a :class:`~faceprint.errors.ModelError`
naming the file. :func:`checked_file` is how backends find their file in a pack: it must exist
and match the pack's declared sha256.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceprint._hashing import sha256_file
from faceprint.errors import (
    FaceprintError,
    InvalidArgumentError,
    MissingDependencyError,
    ModelError,
    map_exceptions,
)

if TYPE_CHECKING:
    from faceprint.packs.spec import PackSpec

__all__ = ["ORT_ERRORS", "OnnxModel", "TensorInfo", "check_options", "checked_file"]

logger = logging.getLogger(__name__)

#: onnxruntime raises its own pybind exception types, which share no base below ``Exception``:
#: keep the blocks translated with this mapping to the onnxruntime call itself
ORT_ERRORS: Mapping[type[BaseException], type[FaceprintError]] = {Exception: ModelError}

#: a dimension of a tensor shape: an int when fixed, ``None`` when dynamic
Dim = int | None


@dataclass(frozen=True)
class TensorInfo:
    """Name and shape of one graph input or output (dynamic dimensions are ``None``)."""

    name: str
    shape: tuple[Dim, ...]


def _dims(shape: Sequence[Any] | None) -> tuple[Dim, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in (shape or ()))


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - onnxruntime is a core dependency
        raise MissingDependencyError(
            "ONNX model packs need onnxruntime: pip install onnxruntime"
        ) from exc
    return onnxruntime


class OnnxModel:
    """An ONNX file in an onnxruntime CPU session.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (``None``: onnxruntime's default, one per core).

    Raises:
        ModelError: the file is missing, not an ONNX model, or cannot be run on CPU.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}", source=self.path)
        if threads is not None and threads < 1:
            raise InvalidArgumentError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self._session = self._open(_import_ort())
        self.inputs = [TensorInfo(i.name, _dims(i.shape)) for i in self._session.get_inputs()]
        self.outputs = [TensorInfo(o.name, _dims(o.shape)) for o in self._session.get_outputs()]

    def _open(self, ort: Any) -> Any:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        what = "load the ONNX model; check that it is a complete ONNX file (download it again"
        with map_exceptions(ORT_ERRORS, source=self.path, what=f"{what} if it was truncated)"):
            return ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )

    @property
    def input(self) -> TensorInfo:
        """The first (for faceprint's models: the only) input."""
        return self.inputs[0]

    def run(self, x: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        """All outputs, in graph order, for ``x`` fed to the first input."""
        with map_exceptions(ORT_ERRORS, source=self.path, what=f"run on an input of {x.shape}"):
            outs = self._session.run(None, {self.input.name: x})
        return [np.asarray(o, dtype=np.float32) for o in outs]

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, threads={self.threads})"


def checked_file(pack: PackSpec, role: str) -> Path:
    """``pack``'s file for ``role``, after checking it exists and matches its declared sha256.

    Raises:
        ModelError: the pack has no such file, it is missing, or its checksum differs (the
            message names the file).
    """
    path = pack.file(role)
    want = (pack.sha256.get(role) or "").lower()
    if want:
        got = sha256_file(path)
        if got != want:
            raise ModelError(
                f"pack {pack.name!r}: {role} file {path} has sha256 {got}, the pack declares "
                f"{want}; replace the file with the one the pack was made for, or fix the manifest"
            )
    logger.debug("pack %s: %s file %s", pack.name, role, path)
    return path


def check_options(cls: type, options: Mapping[str, Any]) -> None:
    """Raise a ValueError naming the valid options when ``options`` has a keyword ``cls`` lacks
    (e.g. dlib's ``upsample`` given to an ONNX detector)."""
    params = inspect.signature(cls).parameters
    allowed = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidArgumentError(
            f"{cls.__name__} has no option {', '.join(unknown)}; its options: {', '.join(allowed)}"
        )
