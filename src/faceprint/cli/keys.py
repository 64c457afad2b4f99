"""``faceprint keys add|list|revoke``: the API keys of an HTTP service's gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceprint.cli._app import app
from faceprint.cli._common import JsonOption, errors_to_exit, out, print_json
from faceprint.server.security import ROLES, KeyStore, Role

keys_app = typer.Typer(
    help="API keys of `faceprint serve` (stored hashed in GALLERY/keys.sqlite; none by default).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

GalleryOption = Annotated[
    Path, typer.Option("--gallery", help="Gallery directory the server uses.", show_default=False)
]


@keys_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name for the key (who or what uses it).")],
    gallery: GalleryOption,
    role: Annotated[
        str,
        typer.Option(help=f"{' or '.join(ROLES)}: read analyses and looks up; admin also changes."),
    ] = "read",
) -> None:
    """Create a key and print it once (only its hash is stored: copy it now)."""
    with errors_to_exit():
        key = KeyStore(gallery).add(name, _role(role))
    out.print(key, markup=False, highlight=False)


@keys_app.command("list")
def list_(gallery: GalleryOption, json_: JsonOption = False) -> None:
    """Every key's name, role and creation time (never the key)."""
    with errors_to_exit():
        keys = KeyStore(gallery).keys()
    if json_:
        print_json([{"name": k.name, "role": k.role, "created_at": k.created_at} for k in keys])
        return
    if not keys:
        out.print(
            "no keys: the server accepts only loopback connections, without a key", markup=False
        )
    for k in keys:
        out.print(f"{k.name}  {k.role}  {k.created_at}", markup=False)


@keys_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The key's name.")], gallery: GalleryOption
) -> None:
    """Delete a key (a running server refuses it within a second)."""
    with errors_to_exit():
        KeyStore(gallery).revoke(name)
    out.print(f"revoked {name}", markup=False)


def _role(value: str) -> Role:
    if value not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}, got {value!r}")
    return value
