"""The ``faceprint`` command line: a thin layer over the public Python API.

Each command module defines its commands on the shared :data:`app` (or a sub-app registered here),
imported from the leaf :mod:`faceprint.cli._app` so that no command module imports this package.
"""

from __future__ import annotations

import sys

import typer

from faceprint.cli._app import app
from faceprint.cli._common import accepts_quiet

__all__ = ["app", "main"]


# --- command registration: one line per module -------------------------------------------
from faceprint.cli import bench as _bench  # noqa: F401
from faceprint.cli import core as _core  # noqa: F401
from faceprint.cli import evaluate as _evaluate  # noqa: F401
from faceprint.cli import gallery as _gallery  # noqa: F401
from faceprint.cli import keys as _keys  # noqa: F401
from faceprint.cli import library as _library  # noqa: F401
from faceprint.cli import models as _models  # noqa: F401
from faceprint.cli import resemble as _resemble  # noqa: F401
from faceprint.cli import serve as _serve  # noqa: F401
from faceprint.cli import video as _video  # noqa: F401

#: commands without ``--quiet``: the server logs through uvicorn; a new key prints once, or never
_LOUD = frozenset({"faceprint.cli.serve.serve", "faceprint.cli.keys.add"})


def _add_quiet(typer_app: typer.Typer) -> None:
    """Every command that prints takes ``--quiet``."""
    for info in typer_app.registered_commands:
        fn = info.callback
        if fn is not None and f"{fn.__module__}.{fn.__qualname__}" not in _LOUD:
            info.callback = accepts_quiet(fn)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _add_quiet(group.typer_instance)


_add_quiet(app)


def main() -> None:
    """Console-script entry point."""
    _present_as_module()
    app()


def _present_as_module() -> None:
    """Make the console script look like ``python -m faceprint`` to ``multiprocessing``.

    A spawned worker process (the batch engine's) re-runs the parent's main *script* before its
    work, which here would import the whole command line again in every worker (0.4 s of CPU
    each); a main *module* named ``….__main__`` is not re-run. Only set when the script has no
    module spec of its own.
    """
    import importlib.util

    main_module = sys.modules.get("__main__")
    if main_module is not None and getattr(main_module, "__spec__", None) is None:
        main_module.__spec__ = importlib.util.find_spec("faceprint.__main__")
