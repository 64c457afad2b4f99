"""Listing people in pages: ``Gallery.people`` (one database query, any gallery size), the
``GET /v1/people`` route's ``limit``/``offset``/``q`` and total, and the client's paging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from _server_live import LiveServer
from faceprint.client import Client
from faceprint.errors import InvalidArgumentError
from faceprint.gallery import Gallery
from faceprint.server import ServerConfig
from faceprint.server.security import KeyStore

NAMES = [f"Person {i:04d}" for i in range(1200)] + ["Zoë Ünïcode", "ZOË Second", "Ann_%"]


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def gallery_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("people") / "gallery"
    with Gallery.create(path, "dlib") as g:
        g.add_embeddings(NAMES, _vectors(len(NAMES)))
        # a second template for one person, and a thumbnail on it only
        g.add_embeddings(
            ["Person 0001"], _vectors(1, 1), thumbnails=[b"\xff\xd8\xffjpeg"], append=True
        )
    return path


def test_a_page_is_one_query_with_counts_thumbnails_and_the_total(gallery_dir: Path) -> None:
    with Gallery.open(gallery_dir) as g:
        statements: list[str] = []
        g._store._conn.set_trace_callback(statements.append)
        page = g.people(limit=3, offset=1)
        g._store._conn.set_trace_callback(None)
        assert [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))] == [
            statements[1]
        ]
        assert page.total == len(NAMES) and (page.offset, page.limit) == (1, 3)
        assert [p.name for p in page.people] == ["Person 0000", "Person 0001", "Person 0002"]
        first = page.people[1]
        assert first.template_count == 2 and first.thumbnail_template is not None
        assert g.thumbnail(first.thumbnail_template) == b"\xff\xd8\xffjpeg"
        assert page.people[0].thumbnail_template is None and page.people[0].template_count == 1
        assert first.id == g.get("Person 0001").id
        everyone = g.people(limit=1000).people + g.people(limit=1000, offset=1000).people
        assert [p.name for p in everyone] == [i.name for i in g.identities()]


def test_search_folds_case_in_any_script_and_takes_wildcards_literally(gallery_dir: Path) -> None:
    with Gallery.open(gallery_dir) as g:
        assert [p.name for p in g.people("zoë").people] == ["ZOË Second", "Zoë Ünïcode"]
        assert g.people("  ÜNÏ ").total == 1
        assert [p.name for p in g.people("_%").people] == ["Ann_%"]
        assert g.people("%").total == 1 and g.people("nobody").total == 0
        past = g.people(offset=10**6)
        assert past.people == () and past.total == len(NAMES)
        for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
            with pytest.raises(InvalidArgumentError):
                g.people(**bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            g.people("x" * 1025)


@pytest.fixture(scope="module")
def live(gallery_dir: Path) -> Iterator[tuple[LiveServer, str]]:
    key = KeyStore(gallery_dir).add("viewer", "read")
    server = LiveServer(ServerConfig(gallery=gallery_dir, workers=1)).start()
    yield server, key
    server.stop()


def test_route_pages_searches_and_refuses_bad_paging(live: tuple[LiveServer, str]) -> None:
    server, key = live
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        first = http.get("/v1/people").json()
        assert len(first["people"]) == 50 and first["total"] == len(NAMES)
        assert (first["offset"], first["limit"]) == (0, 50)
        assert first["people"][2]["templates"] == 2 and first["people"][2]["thumbnail_url"]
        page = http.get("/v1/people", params={"q": "person 11", "limit": 5, "offset": 95}).json()
        assert page["total"] == 100 and [p["name"] for p in page["people"]] == [
            "Person 1195",
            "Person 1196",
            "Person 1197",
            "Person 1198",
            "Person 1199",
        ]
        for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}):
            bad = http.get("/v1/people", params=params)
            assert bad.status_code == 422 and "error" in bad.json(), params
        assert http.get("/v1/people", params={"q": "x" * 1025}).status_code == 422


def test_client_lists_everyone_across_pages_or_one_page(live: tuple[LiveServer, str]) -> None:
    server, key = live
    with Client(server.url, key) as fp:
        everyone = fp.people()
        assert [p.name for p in everyone] == sorted(NAMES)  # over the server's 1,000 a page
        assert [p.name for p in fp.people("zoë")] == ["ZOË Second", "Zoë Ünïcode"]
        assert [p.name for p in fp.people(limit=2, offset=1200)] == ["Person 1199", "ZOË Second"]
        page = fp.people_page("PERSON", limit=10, offset=1195)
        assert page.total == 1200 and len(page.people) == 5
