"""What a CLI user expects of every command: --quiet, --json where there is a result, no
``<bool>`` after a flag in --help, one version number, shell completion."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from faceprint import __version__
from faceprint.cli import app
from faceprint.cli._common import QUIET_HELP

pytestmark = pytest.mark.core

#: commands that take no --quiet: the server logs through uvicorn; a new API key prints once
LOUD = {"faceprint serve", "faceprint keys add"}
#: commands whose output is not a result to parse (a server; a key printed once; a revocation)
NO_JSON = {"faceprint serve", "faceprint keys add", "faceprint keys revoke"}


def _commands() -> Iterator[tuple[str, Any]]:
    root = typer.main.get_command(app)

    def walk(cmd: Any, path: str) -> Iterator[tuple[str, Any]]:
        if hasattr(cmd, "list_commands"):
            ctx = cmd.context_class(cmd, info_name=path)
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), f"{path} {name}")
        else:
            yield path, cmd

    yield from walk(root, "faceprint")


def _options(cmd: Any) -> set[str]:
    return {o for p in cmd.params for o in getattr(p, "opts", ())}


COMMANDS = dict(_commands())


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_takes_quiet_and_json(path: str) -> None:
    opts = _options(COMMANDS[path])
    assert ("--quiet" in opts) == (path not in LOUD), path
    assert ("--json" in opts) == (path not in NO_JSON), path


@pytest.mark.parametrize("path", sorted(set(COMMANDS) - LOUD))
def test_quiet_means_one_thing_on_every_command(path: str) -> None:
    """One option, one help text, and the one shared helper applying it (whether or not the
    command also hides a progress bar with it)."""
    cmd = COMMANDS[path]
    (quiet,) = (p for p in cmd.params if "--quiet" in getattr(p, "opts", ()))
    assert set(quiet.opts) == {"--quiet", "-q"} and quiet.is_flag
    assert quiet.help == QUIET_HELP
    assert getattr(cmd.callback, "__faceprint_quiet__", False), path


def test_version_is_the_package_version() -> None:
    shown = CliRunner().invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.stdout.strip() == f"faceprint {__version__}"
    from importlib.metadata import PackageNotFoundError, version

    with contextlib.suppress(PackageNotFoundError):  # a source tree on PYTHONPATH only
        assert version("faceprint") == __version__


@pytest.mark.parametrize(
    "command", [["--help"], ["detect", "--help"], ["library", "cluster", "--help"]]
)
def test_flags_show_no_bool_metavar(command: list[str]) -> None:
    text = CliRunner().invoke(app, command, env={"COLUMNS": "200"}).stdout
    assert "--quiet" in text or "--verbose" in text
    assert "<bool>" not in text, command


def test_shell_completion_is_offered() -> None:
    text = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout
    assert "--install-completion" in text and "--show-completion" in text


def test_quiet_silences_a_command_without_progress(tmp_path: Any) -> None:
    runner = CliRunner()
    loud = runner.invoke(app, ["models", "list"])
    quiet = runner.invoke(app, ["models", "list", "--quiet"])
    assert loud.exit_code == quiet.exit_code == 0
    assert "dlib" in loud.stdout and quiet.stdout == ""
    as_json = runner.invoke(app, ["models", "list", "--quiet", "--json"])  # --json still prints
    assert as_json.exit_code == 0 and as_json.stdout.lstrip().startswith(("[", "{"))
    gone = runner.invoke(app, ["library", "status", "--library", str(tmp_path / "no"), "-q"])
    assert gone.exit_code == 2 and "error" in gone.output  # errors still show
