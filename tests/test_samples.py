"""The Java, C# and C++ samples (samples/) built and run against a live server: each verifies
obama.jpg against obama2.jpg, identifies two_people.jpg and reads each named person by id. A sample whose toolchain is not
installed is skipped with the Debian packages that provide it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from _server_live import LiveServer
from faceprint.client import Client
from faceprint.server import ServerConfig
from faceprint.server.security import KeyStore

pytestmark = [pytest.mark.data, pytest.mark.slow]

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, photos: Path):
    gallery = tmp_path_factory.mktemp("samples") / "gallery"
    store = KeyStore(gallery)
    admin, read = store.add("ops", "admin"), store.add("sample", "read")
    live = LiveServer(ServerConfig(gallery=gallery, workers=1)).start()
    with Client(live.url, admin) as fp:
        fp.enroll("Barack Obama", [photos / "obama.jpg"])
        fp.enroll("Joe Biden", [photos / "biden.jpg"])
    yield live, read
    live.stop()


def _need(*tools: str, package: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian: apt-get install {package})")


def _java(build: Path) -> list[str]:
    _need("javac", "java", package="default-jdk-headless")
    _run(["javac", "-d", str(build), str(SAMPLES / "java" / "FaceprintSample.java")])
    return ["java", "-cp", str(build), "FaceprintSample"]


def _csharp(build: Path) -> list[str]:
    _need("mcs", "mono", package="mono-mcs libmono-system-net-http4.0-cil")
    if not list(Path("/usr/lib/mono").glob("**/System.Net.Http.dll")):
        pytest.skip(
            "System.Net.Http.dll not installed (Debian: apt-get install libmono-system-net-http4.0-cil)"
        )
    exe = build / "FaceprintSample.exe"
    _run(
        [
            "mcs",
            "-r:System.Net.Http.dll",
            f"-out:{exe}",
            str(SAMPLES / "csharp" / "FaceprintSample.cs"),
        ]
    )
    return ["mono", str(exe)]


def _cpp(build: Path) -> list[str]:
    _need("g++", package="g++ libcurl4-openssl-dev")
    probe = subprocess.run(
        ["g++", "-E", "-x", "c++", "-"],
        input="#include <curl/curl.h>\n",
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip("curl/curl.h not found (Debian: apt-get install libcurl4-openssl-dev)")
    exe = build / "faceprint_sample"
    _run(
        [
            "g++",
            "-std=c++17",
            "-O1",
            "-o",
            str(exe),
            str(SAMPLES / "cpp" / "faceprint_sample.cpp"),
            "-lcurl",
        ]
    )
    return [str(exe)]


def _run(args: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samples-build")


@pytest.mark.parametrize("build", [_java, _csharp, _cpp], ids=["java", "csharp", "cpp"])
def test_sample_verifies_and_identifies(
    build: Callable[[Path], list[str]], server, photos: Path, build_dir: Path
) -> None:
    live, key = server
    command = build(build_dir)
    env = {**os.environ, "FACEPRINT_API_KEY": key}
    images = [str(photos / n) for n in ("obama.jpg", "obama2.jpg", "two_people.jpg")]
    output = _run([*command, live.url, *images], env=env)
    lines = output.splitlines()
    assert lines[0].startswith("verify: similarity=0.9") and lines[0].endswith("same=true"), output
    found = [line for line in lines[1:] if line.startswith("identify: ")]
    names = sorted(line.split(" similarity=")[0].removeprefix("identify: ") for line in found)
    assert names == ["Barack Obama", "Joe Biden"], output
    with Client(live.url, key) as fp:  # each named face read back by its person id
        people = sorted(f"person {p.id}: {p.name}" for p in fp.people())
    assert sorted(line for line in lines if line.startswith("person ")) == people, output


def test_sample_refused_without_key(server, photos: Path, build_dir: Path) -> None:
    live, _key = server
    command = _cpp(build_dir)
    env = {k: v for k, v in os.environ.items() if k != "FACEPRINT_API_KEY"}
    images = [str(photos / n) for n in ("obama.jpg", "obama2.jpg", "two_people.jpg")]
    done = subprocess.run(
        [*command, live.url, *images], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 1 and "HTTP 401" in done.stderr
