"""One meaning on every surface for two naming rules (the browser side is in test_web.py):

* the names the outputs give to nobody (``unknown``, ``unknown_N``, any letter case) are refused
  as a person's name by the Python API, the CLI and the HTTP API;
* adding faces to a person who exists already is an explicit choice (``append``), never the
  side effect of typing their name: a library cluster labelled with a taken name is refused
  unless ``append`` (the gallery's ``enroll`` and ``add_embeddings`` already were).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.cli import app
from faceprint.errors import IdentityExistsError, InvalidArgumentError
from faceprint.gallery import Gallery
from faceprint.library import Library
from test_library import _synthetic_library

RESERVED = ["unknown", "Unknown", "UNKNOWN_1", "unknown_42", "  unknown_7  "]
ALLOWED = ["unknown person", "unknown_x", "Unknownson", "unknown_1b"]

runner = CliRunner()


def _rows(n: int, seed: int = 3) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[Gallery]:
    with Gallery.create(tmp_path / "gallery", "dlib") as g:
        g.add_embeddings(["alice"], _rows(1))
        yield g


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib, _ = _synthetic_library(tmp_path)
    lib.cluster(threshold=0.7)
    yield lib
    lib.close()


# --- Python ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RESERVED)
def test_python_refuses_reserved_names(gallery: Gallery, library: Library, name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="reserved"):
        gallery.add_embeddings([name], _rows(1, 4))
    with pytest.raises(InvalidArgumentError, match="reserved"):
        gallery.rename("alice", name)
    cluster = library.clusters().clusters[0].id
    with pytest.raises(InvalidArgumentError, match="reserved"):
        library.label(cluster, name)
    assert [p.name for p in gallery.identities()] == ["alice"]
    assert library.clusters().clusters[0].name is None


@pytest.mark.parametrize("name", ALLOWED)
def test_python_accepts_names_that_only_look_alike(gallery: Gallery, name: str) -> None:
    gallery.add_embeddings([name], _rows(1, 5))
    assert name in gallery


def test_library_label_with_a_taken_name_needs_append(library: Library) -> None:
    first, second = (c.id for c in library.clusters().clusters[:2])
    library.label(first, "Ann")
    templates = library.gallery.template_count
    with pytest.raises(IdentityExistsError, match="append"):
        library.label(second, "Ann")
    assert library.gallery.template_count == templates  # nothing was added
    assert library.cluster_info(second).name is None
    joined = library.label(second, "Ann", append=True)
    assert joined.name == "Ann" and joined.size == 7


def test_library_label_refuses_a_name_only_the_gallery_knows(library: Library) -> None:
    library.gallery.add_embeddings(["Grandpa"], _rows(1, 6))
    with pytest.raises(IdentityExistsError):
        library.label(library.clusters().clusters[0].id, "Grandpa")


def test_library_templates_skip_faces_too_small_to_trust(tmp_path: Path) -> None:
    lib, _ = _synthetic_library(tmp_path)
    with lib:
        lib.cluster(threshold=0.7)
        with lib._store.transaction() as cur:  # every face 40 px: below MIN_TEMPLATE_FACE
            cur.execute("UPDATE faces SET x2 = 40, y2 = 40")
        info = lib.label(lib.clusters().clusters[0].id, "Tiny")
        assert info.name == "Tiny" and info.size == 4  # named in the library
        assert "Tiny" not in lib.gallery  # but no template a stranger could match


# --- CLI ------------------------------------------------------------------------------------------


def _cli(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.stderr


@pytest.mark.parametrize("name", ["unknown", "Unknown_3"])
def test_cli_refuses_reserved_names(
    gallery: Gallery, library: Library, photos: Path, name: str
) -> None:
    folder = str(gallery.directory)
    gallery.close()
    code, err = _cli(["enroll", "--gallery", folder, "--name", name, str(photos / "obama.jpg")])
    assert code != 0 and "reserved" in err, err
    code, err = _cli(["people", "--gallery", folder, "--rename", "alice", name])
    assert code != 0 and "reserved" in err, err
    lib_dir = str(library.directory)
    cluster = str(library.clusters().clusters[0].id)
    library.close()
    code, err = _cli(["library", "label", cluster, name, "--library", lib_dir])
    assert code != 0 and "reserved" in err, err


def test_cli_library_label_taken_name_needs_append(library: Library) -> None:
    first, second = (str(c.id) for c in library.clusters().clusters[:2])
    lib_dir = str(library.directory)
    library.close()
    assert _cli(["library", "label", first, "Ann", "--library", lib_dir])[0] == 0
    code, err = _cli(["library", "label", second, "Ann", "--library", lib_dir])
    assert code != 0 and "--append" in err, err
    code, err = _cli(["library", "label", second, "Ann", "--library", lib_dir, "--append"])
    assert code == 0, err


# --- HTTP -----------------------------------------------------------------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """A server over a fresh gallery (one person, alice) and a synthetic clustered library;
    yields its URL and the library's cluster ids, largest first."""
    from _server_live import LiveServer
    from faceprint.server import ServerConfig

    with Gallery.create(tmp_path / "gallery", "dlib") as g:
        g.add_embeddings(["alice"], _rows(1))
    lib, _ = _synthetic_library(tmp_path)
    with lib:
        lib.cluster(threshold=0.7)
        clusters = [c.id for c in lib.clusters().clusters]
    server = LiveServer(
        ServerConfig(gallery=tmp_path / "gallery", library=tmp_path / "lib", workers=1)
    ).start()
    yield server.url, clusters
    server.stop()


def test_http_refuses_reserved_names_and_silent_appends(
    live: tuple[str, list[int]], photos: Path
) -> None:
    import httpx

    url, clusters = live
    image = {"images": ("obama.jpg", (photos / "obama.jpg").read_bytes())}
    for name in ("unknown", "Unknown_2"):
        resp = httpx.post(f"{url}/v1/people", data={"name": name}, files=image, timeout=60)
        assert resp.status_code == 400 and "reserved" in resp.json()["error"]["message"]
        resp = httpx.post(f"{url}/v1/library/clusters/{clusters[0]}/label", json={"name": name})
        assert resp.status_code == 400 and "reserved" in resp.json()["error"]["message"]
    resp = httpx.post(f"{url}/v1/people", data={"name": "alice"}, files=image, timeout=60)
    assert resp.status_code == 409  # enrolling under a taken name is not an append
    label = f"{url}/v1/library/clusters/{{}}/label"
    assert httpx.post(label.format(clusters[0]), json={"name": "Ann"}).status_code == 200
    resp = httpx.post(label.format(clusters[1]), json={"name": "Ann"})
    assert resp.status_code == 409, resp.text
    resp = httpx.post(label.format(clusters[1]), json={"name": "Ann", "append": True})
    assert resp.status_code == 200 and resp.json()["size"] == 7, resp.text
