"""One error vocabulary: every code the server can send is declared on faceprint's error classes
(:data:`faceprint.errors.CODES`), and the client raises the declared class for each."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
import pytest

from faceprint import errors
from faceprint.client import ERRORS, _error
from faceprint.errors import CODES, FaceprintError
from faceprint.server.errors import HTTP_CODES, ApiError, status_of

SERVER = Path(errors.__file__).parent / "server"
#: calls whose second positional argument is an error code
RAISERS = {"ApiError", "Refusal", "_refuse", "_error", "envelope"}


def _codes_in_server() -> set[str]:
    found: set[str] = set()
    for path in SERVER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in RAISERS:
                continue
            found |= {
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and re.fullmatch(r"[a-z]+(_[a-z]+)*", arg.value)
            }
    return found


def test_the_server_sends_only_declared_codes() -> None:
    sent = _codes_in_server() | set(HTTP_CODES.values())
    sent |= {cls.code for cls in _subclasses(FaceprintError)}
    assert len(sent) > 25
    assert sent - set(ERRORS) == set(), "codes the client does not know"
    assert ERRORS == CODES


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_an_undeclared_code_cannot_be_raised() -> None:
    with pytest.raises(ValueError, match="not declared"):
        ApiError(400, "made_up_code", "x")


@pytest.mark.parametrize("code", sorted(CODES))
def test_the_client_raises_the_declared_class(code: str) -> None:
    body = {"error": {"code": code, "message": "m"}, "request_id": "r"}
    exc = _error(httpx.Response(400, json=body))
    assert isinstance(exc, CODES[code]) and exc.code == code


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(errors.ImageTooLargeError("x"), (413, "image_too_large")), (errors.ImageError("x"), (400, "invalid_image")),
     (errors.VideoError("x"), (400, "invalid_video")), (errors.NoFaceError("x"), (422, "no_face")),
     (errors.IdentityNotFoundError("x"), (404, "not_found")), (errors.RecordNotFoundError("x"), (404, "not_found")),
     (errors.IdentityExistsError("x"), (409, "conflict")), (errors.StorageError("x"), (503, "storage_unavailable")),
     (errors.InvalidArgumentError("x"), (400, "invalid_argument")), (errors.ModelError("x"), (503, "model_unavailable"))],
)  # fmt: skip
def test_status_comes_from_the_class(exc: FaceprintError, expected: tuple[int, str]) -> None:
    assert status_of(exc) == expected
