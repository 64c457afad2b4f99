"""The generated reference pages of the documentation site.

- ``reference/cli.md``: every command of the Typer app (usage, help, arguments and options);
- ``reference/http.md``: every endpoint of ``docs/openapi.json`` (parameters, body fields,
  responses) and its schemas;

and the site's title with ``faceprint.__version__``.

Used by the MkDocs hook below (``mkdocs.yml``: ``hooks: [scripts/reference_docs.py]``), so the
pages always match the code; run it as a script to write them to a folder and read them there::

    python scripts/reference_docs.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "docs" / "openapi.json"


# --- CLI -------------------------------------------------------------------------------------------
def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _type_name(param: Any, ctx: Any) -> str:
    """``int range``, ``path``, ``text`` ... (Typer's own label, else Click's type name)."""
    if hasattr(param, "display_type"):
        return _cell(str(param.display_type(ctx)).strip("<>"))
    return _cell(param.type.name)


def _param_row(param: Any, ctx: Any) -> str:
    if param.param_type_name == "option":
        names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        flag = param.is_flag and not param.count
        kind = "flag" if flag else _type_name(param, ctx)
        default = "" if flag or param.default in (None, (), []) else f"`{param.default}`"
        if param.required:
            default = "required"
        return f"| {names} | {kind} | {default} | {_cell(param.help or '')} |"
    required = "required" if param.required else ""
    kind = _type_name(param, ctx) + (" ..." if param.nargs != 1 else "")
    help_text = getattr(param, "help", "") or ""
    name = (param.name or "").upper()
    return f"| `{name}` | {kind} | {required} | {_cell(help_text)} |"


def _command_md(cmd: Any, ctx: Any, depth: int) -> list[str]:
    path = ctx.command_path
    out = [f"{'#' * depth} `{path}`", ""]
    if cmd.help:
        out += [cmd.help.strip().replace("\b\n", ""), ""]
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    out += ["```", f"{path} {usage}".rstrip(), "```", ""]
    params = [p for p in cmd.get_params(ctx) if not getattr(p, "hidden", False)]
    params = [p for p in params if p.name not in ("help",)]
    if params:
        out += ["| argument / option | type | default | help |", "|---|---|---|---|"]
        out += [_param_row(p, ctx) for p in params]
        out.append("")
    if hasattr(cmd, "list_commands"):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            child = sub.context_class(sub, info_name=name, parent=ctx)
            out += _command_md(sub, child, depth + 1)
    return out


def cli_markdown() -> str:
    """The CLI reference page, generated from the Typer app."""
    import typer

    from faceprint.cli import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="faceprint")
    head = [
        "# CLI reference",
        "",
        "Generated from the `faceprint` Typer app when the site is built.",
        "",
        "## Conventions",
        "",
        "- **Errors**: bad input prints one line on stderr (`error: ...`) and exits 2.",
        "- **`--json`**: every command with a result prints it as JSON on stdout (valid UTF-8; "
        "file names that are not UTF-8 are escaped, NaN and infinities become `null`).",
        "- **`--quiet` / `-q`** means one thing on every command that has it (all but "
        "`serve` and `keys add`): no progress bar and no human-readable output, neither the "
        "results shown as text on stdout nor the notes on stderr (what was written, counts). "
        "What still prints: `--json` output, warnings and errors. Files the command writes "
        "(`--out`, `--draw`, `--sheet` ...) are still written and the exit status is the same, "
        "so `faceprint verify A B -q` answers by its exit status alone and "
        "`faceprint identify ... -q --json` prints nothing but the JSON.",
        "- **Outputs** go where you say (`--out`, `--draw`, `--library` ...) or to the current "
        "directory, never beside the inputs.",
        "- **Shell completion**: `faceprint --install-completion` (bash, zsh, fish, PowerShell) "
        "or `faceprint --show-completion` to copy it.",
        "",
    ]
    return "\n".join(head + _command_md(root, ctx, 2)) + "\n"


# --- HTTP ------------------------------------------------------------------------------------------
def _schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " or ".join(_schema_type(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_schema_type(schema.get('items', {}))}"
    if schema.get("format") == "binary" or "contentMediaType" in schema:
        return "file"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    return str(kind)


def _fields(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", ()))
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        desc = prop.get("description", "")
        if "default" in prop and prop["default"] is not None:
            desc = f"{desc} (default `{json.dumps(prop['default'])}`)".strip()
        rows.append(
            f"| `{name}` | {_schema_type(prop)} | {'yes' if name in required else ''} | {_cell(desc)} |"
        )
    return rows


def _operation_md(method: str, path: str, op: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    out = [f"### `{method.upper()} {path}`", ""]
    if op.get("description") or op.get("summary"):
        out += [op.get("description") or op["summary"], ""]
    auth = "a key (`Authorization: Bearer …`)" if op.get("security") else "none"
    out += [f"Authentication: {auth}.", ""]
    params = op.get("parameters", [])
    if params:
        out += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in params:
            out.append(
                f"| `{p['name']}` | {p['in']} | {_schema_type(p.get('schema', {}))} | "
                f"{'yes' if p.get('required') else ''} | {_cell(p.get('description', ''))} |"
            )
        out.append("")
    body = op.get("requestBody", {}).get("content", {})
    for ctype, media in body.items():
        schema = media.get("schema", {})
        out += [f"Request body (`{ctype}`):", ""]
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        out += [*_fields(schema), ""] if schema.get("properties") else [_schema_type(schema), ""]
    out += ["| status | description | body |", "|---|---|---|"]
    for status, resp in op.get("responses", {}).items():
        media = next(iter(resp.get("content", {}).values()), {})
        shape = _schema_type(media["schema"]) if "schema" in media else ""
        out.append(f"| {status} | {_cell(resp.get('description', ''))} | {shape} |")
    return [*out, ""]


def http_markdown(openapi: Path = OPENAPI) -> str:
    """The HTTP reference page, generated from the committed OpenAPI document."""
    doc = json.loads(openapi.read_text())
    schemas = doc.get("components", {}).get("schemas", {})
    out = [
        "# HTTP reference",
        "",
        f"Generated from `docs/openapi.json` (API version {doc['info']['version']}) when the site "
        "is built; a running server serves the same document at `/openapi.json`.",
        "",
        doc["info"].get("description", ""),
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((method, path, op))
    for tag, ops in by_tag.items():
        out += [f"## {tag.capitalize()}", ""]
        for method, path, op in ops:
            out += _operation_md(method, path, op, schemas)
    out += ["## Schemas", ""]
    for name, schema in schemas.items():
        if name.startswith("Body_"):
            continue  # shown with its endpoint
        out += [f"### {name}", ""]
        if schema.get("description"):
            out += [schema["description"], ""]
        out += [*_fields(schema), ""] if schema.get("properties") else [_schema_type(schema), ""]
    return "\n".join(out) + "\n"


# --- MkDocs hook -----------------------------------------------------------------------------------
PAGES = {"reference/cli.md": cli_markdown, "reference/http.md": http_markdown}


def on_config(config: Any) -> Any:
    """The site's title carries the package's version (MkDocs hook): one version number."""
    from faceprint import __version__

    config["site_name"] = f"faceprint {__version__}"
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the site (MkDocs hook)."""
    from mkdocs.structure.files import File

    for uri, make in PAGES.items():
        files.append(File.generated(config, uri, content=make()))
    return files


if __name__ == "__main__":
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "out/reference")
    for uri, make in PAGES.items():
        target = out_dir / Path(uri).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(make())
        print(target)
