"""The root Typer application every command module registers on (a leaf: no command imports)."""

from __future__ import annotations

import logging

import typer

__all__ = ["app"]

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
