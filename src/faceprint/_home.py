"""faceprint's own directory for caches (converted models, embedding caches)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["faceprint_home"]


def faceprint_home() -> Path:
    """``$FACEPRINT_HOME``, or ``$XDG_CACHE_HOME/faceprint``, or ``~/.cache/faceprint``."""
    env = os.environ.get("FACEPRINT_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "faceprint"
