"""The root Typer application every command module registers on (a leaf: no command imports)."""

from __future__ import annotations

import logging
from typing import Any

import typer
from typer.core import TyperOption

__all__ = ["app"]


def _flag_type_hidden(self: TyperOption, ctx: object) -> str | None:
    """``--help`` shows no ``<bool>`` after an on/off flag (recent Typer prints one; a flag
    takes no value). Other options keep their type."""
    if (self.is_flag and not self.count) or _display_type_rich is None:
        return None
    return _display_type_rich(self, ctx)


_display_type_rich: Any = getattr(TyperOption, "display_type_rich", None)
if _display_type_rich is not None:  # Typer versions that print a type after every option
    TyperOption.display_type_rich = _flag_type_hidden  # type: ignore[method-assign]

app = typer.Typer(
    name="faceprint",
    help="Offline face recognition: detect, embed, verify, identify and search faces.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from faceprint import __version__

        typer.echo(f"faceprint {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
