"""The web app's files and routes without a browser: what ``mount_web`` serves, that the wheel
carries every file, and that nothing breaks the strict CSP or reaches off the server."""

from __future__ import annotations

import asyncio
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from faceprint.server.web import PAGES, mount_web

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "src" / "faceprint" / "server" / "web"
ASSETS = sorted(
    p for p in WEB.rglob("*") if p.is_file() and p.suffix in {".html", ".js", ".css", ".svg"}
)


class Client:
    """GET through the ASGI app in this process (no server, no models)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str, accept: str = "*/*") -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://web") as c:
                resp = await c.get(path, headers={"Accept": accept})
                await resp.aread()
                return resp

        return asyncio.run(fetch())


@pytest.fixture(scope="module")
def client() -> Client:
    app = FastAPI()
    mount_web(app)
    return Client(app)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_serves_the_app(client: Client, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/js/app.js"></script>' in resp.text


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/static/js/app.js", "javascript"),
        ("/static/js/pages/lookalike.js", "javascript"),
        ("/static/app.css", "text/css"),
        ("/static/icon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served_with_their_type(client: Client, path: str, kind: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    assert kind in resp.headers["content-type"]


def test_unknown_paths_are_404(client: Client) -> None:
    assert client.get("/static/js/nope.js").status_code == 404
    assert client.get("/static/../__init__.py").status_code == 404
    assert client.get("/admin").status_code == 404


def test_every_page_module_the_router_names_exists() -> None:
    app_js = (WEB / "static" / "js" / "app.js").read_text()
    for module in set(re.findall(r'"/[a-z]*": "([a-z]+)"', app_js)):
        assert (WEB / "static" / "js" / "pages" / f"{module}.js").is_file(), module


def test_the_wheel_carries_every_asset() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["faceprint"]
    package = ROOT / "src" / "faceprint"
    for asset in ASSETS:
        rel = asset.relative_to(package).as_posix()
        assert any(fnmatch(rel, g.replace("**/", "*")) for g in globs), rel


@pytest.mark.parametrize("asset", ASSETS, ids=lambda p: p.name)
def test_nothing_inline_or_off_server(asset: Path) -> None:
    text = asset.read_text()
    # no external script, style, font or image (the SVG namespace URI is not a fetch)
    urls = [
        u for u in re.findall(r"https?://[^\s\"')]+", text) if u != "http://www.w3.org/2000/svg"
    ]
    assert urls == [], urls
    if asset.suffix == ".html":
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline script"
        assert "<style" not in text and " style=" not in text, "inline style"
        assert not re.search(r"\son[a-z]+=", text), "inline event handler"
    if asset.suffix == ".js":
        assert not re.search(r"\.(innerHTML|outerHTML|insertAdjacentHTML)\b", text), (
            "HTML from strings"
        )
        assert not re.search(r"\beval\(|new Function\b", text)
        assert not re.search(r"\b(localStorage|sessionStorage)\s*[.\[]|document\.cookie", text), (
            "storage"
        )


@pytest.mark.parametrize("path", ["/no-such-page", "/people/extra", "/static/js/nothing.js"])
def test_unknown_paths_are_404_with_a_page_for_browsers(client: Client, path: str) -> None:
    browser = client.get(path, accept="text/html,application/xhtml+xml")
    api = client.get(path, accept="application/json")
    assert browser.status_code == api.status_code == 404
    assert "json" in api.headers["content-type"]
    if path.startswith("/static/"):  # a missing asset is never the page
        assert "json" in browser.headers["content-type"]
    else:
        assert browser.text.startswith("<!doctype html>")
