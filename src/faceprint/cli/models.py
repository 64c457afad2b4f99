"""``faceprint models list`` and ``faceprint models show``: the model packs and their files."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from faceprint.cli._app import app
from faceprint.cli._common import JsonOption, errors_to_exit, out, print_json
from faceprint.errors import ModelError
from faceprint.packs import get_pack, list_packs
from faceprint.packs.manifest import file_status
from faceprint.packs.registry import PackSpec

models_app = typer.Typer(
    help="Model packs: every available pack with its files, checksums, threshold and licence.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

_BAD = ("missing", "sha256 mismatch")


def _describe(pack: PackSpec, *, checksums: bool) -> dict[str, Any]:
    return {**pack.summary(), "file_status": file_status(pack, checksums=checksums)}


def _entry(name: str) -> dict[str, Any]:
    try:
        return _describe(get_pack(name), checksums=False)
    except ModelError as exc:
        return {"name": name, "error": str(exc)}


def _backend(info: dict[str, Any], role: str) -> str:
    return str(info.get(role, "")) if role in ("detector", "embedder") else ""


def _print(info: dict[str, Any]) -> None:
    if "error" in info:
        out.print(f"{info['name']}  BROKEN: {info['error']}", markup=False)
        return
    out.print(f"{info['name']}  {info['description']}", markup=False)
    for role, path in info["files"].items():
        status = info["file_status"].get(role, "")
        out.print(f"  {role:<12} {_backend(info, role):<13} {path}  [{status}]", markup=False)
        out.print(f"  {'':<12} sha256 {info['sha256'].get(role) or '(not declared)'}", markup=False)
    source = f" ({info['threshold_source']})" if info["threshold_source"] else ""
    out.print(
        f"  {info['dim']}-d, {info['metric']}, threshold {info['threshold']:.4f}{source}",
        markup=False,
    )
    for augment, value in info.get("augment_thresholds", {}).items():
        out.print(f"  threshold with --augment {augment}: {value:.4f}", markup=False)
    for augment, value in info.get("cluster_thresholds", {}).items():
        out.print(f"  clustering threshold with --augment {augment}: {value:.4f}", markup=False)
    out.print(f"  licence: {info['licence']}", markup=False)


@models_app.command("list")
def list_(json_: JsonOption = False) -> None:
    """Every available pack: registered, in $FACEPRINT_HOME/packs, with the state of its files."""
    entries = [_entry(name) for name in list_packs()]
    if json_:
        print_json(entries)
        return
    for i, info in enumerate(entries):
        if i:
            out.print("")
        _print(info)


@models_app.command("show")
def show(
    pack: Annotated[
        str, typer.Argument(help="Pack name, manifest file or model folder.", show_default=False)
    ],
    json_: JsonOption = False,
) -> None:
    """One pack, with every file's checksum verified. Exit 1 when a file is missing or differs."""
    with errors_to_exit():
        info = _describe(get_pack(pack), checksums=True)
    if json_:
        print_json(info)
    else:
        _print(info)
    if any(s in _BAD for s in info["file_status"].values()):
        raise typer.Exit(1)
