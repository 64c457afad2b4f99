"""The ``faceprint`` command line: a thin layer over the public Python API.

Each command module defines its commands on the shared :data:`app` (or a sub-app registered here).
"""

from __future__ import annotations

import logging

import typer

app = typer.Typer(
    name="faceprint",
    help="Offline face recognition: detect, embed, verify, identify and search faces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


# --- command registration: one line per module -------------------------------------------
from faceprint.cli import bench as _bench  # noqa: E402,F401
from faceprint.cli import core as _core  # noqa: E402,F401
from faceprint.cli import evaluate as _evaluate  # noqa: E402,F401
from faceprint.cli import gallery as _gallery  # noqa: E402,F401
from faceprint.cli import models as _models  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    app()
