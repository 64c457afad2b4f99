"""What every surface checks for every hostile case: the outcome, one clear line, nothing changed."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from faceprint.errors import FaceprintError
from hostile.corpus import Case


def runnable(cases: Iterable[Case]) -> list[Any]:
    """``pytest.param`` per case, with its id and its skip reason."""
    return [pytest.param(c, id=c.id, marks=_marks(c)) for c in cases]


def _marks(case: Case) -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.skip(reason=case.skip)] if case.skip else []
    if case.known:
        marks.append(pytest.mark.xfail(reason=case.known, strict=True))
    return marks


def one_line(message: str) -> None:
    """A message users can read: one line, not empty, valid UTF-8, no traceback."""
    assert message.strip(), "empty message"
    assert "\n" not in message.strip(), f"several lines: {message!r}"
    message.encode("utf-8")  # no lone surrogate (a file name that is not UTF-8, unescaped)
    assert "Traceback" not in message and len(message) < 2000, message[:300]


def expect(case: Case, action: Callable[[], Any]) -> Any:
    """Run ``action``; check the case's error (class, one line, the word) or its result."""
    if case.error is None:
        result = action()
        if case.check is not None:
            case.check(result)
        return result
    with pytest.raises(FaceprintError) as info:
        action()
    exc = info.value
    assert isinstance(exc, case.error), f"{type(exc).__name__} ({exc}), expected {case.error}"
    one_line(str(exc))
    assert case.match.lower() in str(exc).lower(), f"{case.match!r} not in {str(exc)!r}"
    return exc


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (WAL and index files included), by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def copy_gallery(template: Path, dest: Path) -> Path:
    """A private copy of a prepared gallery folder."""
    shutil.copytree(template, dest)
    return dest
