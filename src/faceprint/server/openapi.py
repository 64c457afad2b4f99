"""The OpenAPI document of the service, as committed in ``docs/openapi.json``.

Regenerate after changing a route: ``python -m faceprint.server.openapi docs/openapi.json``
(a test fails while the committed file differs from what the app serves).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from faceprint.server.app import create_app
from faceprint.server.config import ServerConfig

__all__ = ["openapi_document", "render"]


def openapi_document() -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves (built on a throw-away empty gallery)."""
    with tempfile.TemporaryDirectory(prefix="faceprint-openapi-") as tmp:
        app = create_app(ServerConfig(gallery=Path(tmp) / "gallery"))
        try:
            return app.openapi()
        finally:
            app.state.faceprint.gallery.close()


def render(document: dict[str, Any]) -> str:
    """The committed file's text (stable key order, two-space indent, final newline)."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render(openapi_document())
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
