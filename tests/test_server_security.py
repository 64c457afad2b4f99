"""Security pieces of the server without models: key store, rate limiter, loopback rule,
content sniffing, archive checks, CORS and headers (the app is driven in-process, no lifespan,
so nothing is loaded)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import httpx
import pytest

from faceprint.errors import InvalidArgumentError
from faceprint.server import Limits, ServerConfig, create_app
from faceprint.server.config import is_loopback
from faceprint.server.errors import ApiError
from faceprint.server.routes.gallery import check_archive
from faceprint.server.security import KeyStore, RateLimiter, hash_key
from faceprint.server.uploads import sniff_image


def test_keys_are_stored_hashed_and_checked(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key = store.add("ops", "admin")
    raw = (tmp_path / "keys.sqlite").read_bytes()
    assert key.encode() not in raw and hash_key(key).encode() in raw
    assert store.authenticate(key).name == "ops"  # type: ignore[union-attr]
    assert store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.authenticate("") is None
    with pytest.raises(InvalidArgumentError, match="exists already"):
        store.add("ops", "read")
    with pytest.raises(InvalidArgumentError, match="key name"):
        store.add("../evil", "read")
    with pytest.raises(InvalidArgumentError, match="role"):
        store.add("x", "root")  # type: ignore[arg-type]
    store.revoke("ops")
    assert store.authenticate(key) is None and store.keys() == []
    with pytest.raises(InvalidArgumentError, match="no key named"):
        store.revoke("ops")


def test_no_key_exists_until_one_is_added(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    assert not store.configured() and store.keys() == []
    assert not (tmp_path / "keys.sqlite").exists()


def test_rate_limiter_bucket_and_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import faceprint.server.security as security

    now = [1000.0]  # a clock the test moves, so a slow machine cannot refill the bucket
    monkeypatch.setattr(security, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    limiter = RateLimiter(rate=10, burst=3, concurrent=2)
    assert [limiter.acquire("a"), limiter.acquire("a")] == [0.0, 0.0]
    assert limiter.acquire("a") == 1.0  # two in progress: the cap
    assert limiter.acquire("b") == 0.0  # other clients are not affected
    limiter.release("a")
    assert limiter.acquire("a") == 0.0  # third token
    limiter.release("a")
    limiter.release("a")
    assert limiter.acquire("a") >= 1.0  # bucket empty: wait
    now[0] += 0.25
    assert limiter.acquire("a") == 0.0  # refilled at 10/s


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.com", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("head", "kind"),
    [(b"\xff\xd8\xff\xe0", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"RIFF\0\0\0\0WEBPVP8 ", "webp"),
     (b"GIF89a", "gif"), (b"<svg xmlns=", None), (b"%PDF-1.7", None), (b"PK\x03\x04", None), (b"", None)],
)  # fmt: skip
def test_formats_are_sniffed_from_content(head: bytes, kind: str | None) -> None:
    assert sniff_image(head) == kind


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_archive_checks(tmp_path: Path) -> None:
    ok = _zip(
        tmp_path / "ok.zip",
        {"gallery.json": b"{}", "embeddings.npy": b"x", "thumbnails/0000001.jpg": b"j"},
    )
    check_archive(ok, Limits())
    for members, says in [
        ({"../x": b""}, "path traversal"),
        ({"thumbnails/../../x.jpg": b""}, "path traversal"),
        ({"C:\\x": b""}, "path traversal"),
        ({"evil.py": b""}, "unexpected member"),
        ({"embeddings.npy": b"\0" * (8 * 1024 * 1024)}, "zip bomb"),
    ]:
        with pytest.raises(ApiError, match=says):
            check_archive(_zip(tmp_path / "bad.zip", members), Limits())
    (tmp_path / "text.zip").write_text("hello")
    with pytest.raises(ApiError, match="not a zip"):
        check_archive(tmp_path / "text.zip", Limits())
    small = Limits(max_archive_expanded_bytes=10)
    with pytest.raises(ApiError, match="expands to"):
        check_archive(_zip(tmp_path / "big.zip", {"gallery.json": b"{" * 100}), small)


def _call(app: object, method: str, path: str, **kwargs: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return await http.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    app = create_app(ServerConfig(gallery=tmp_path / "g", cors_origins=("https://app.example",)))
    try:
        pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        allowed = _call(app, "OPTIONS", "/v1/identify", headers=pre)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = _call(
            app, "OPTIONS", "/v1/identify", headers={**pre, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        assert other.headers["x-request-id"] and other.headers["x-frame-options"] == "DENY"
        assert other.json()["error"]["code"] == "bad_request"  # was plain text
        assert other.json()["request_id"] == other.headers["x-request-id"]
    finally:
        app.state.faceprint.gallery.close()


def test_oversized_body_is_refused_before_it_is_read(tmp_path: Path) -> None:
    app = create_app(
        ServerConfig(
            gallery=tmp_path / "g", limits=Limits(max_body_bytes=1000, max_image_bytes=500)
        )
    )
    try:
        answer = _call(
            app,
            "POST",
            "/v1/detect",
            content=b"x" * 5000,
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"
        assert answer.headers["content-security-policy"].startswith("default-src 'self'")

        async def chunks():  # no Content-Length: counted as it arrives
            yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
            for _ in range(10):
                yield b"y" * 400

        chunked = _call(
            app,
            "POST",
            "/v1/detect",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert chunked.status_code == 413
    finally:
        app.state.faceprint.gallery.close()


def test_models_not_loaded_answers_503_not_a_traceback(tmp_path: Path) -> None:
    app = create_app(ServerConfig(gallery=tmp_path / "g"))  # lifespan not run: no analyzers
    try:
        buf = io.BytesIO()
        from PIL import Image

        Image.new("RGB", (8, 8)).save(buf, "PNG")
        answer = _call(app, "POST", "/v1/detect", files={"image": ("a.png", buf.getvalue())})
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "unavailable"
        assert _call(app, "GET", "/v1/health").json()["status"] == "starting"
    finally:
        app.state.faceprint.gallery.close()


def test_job_errors_name_no_server_path() -> None:
    from faceprint.server.jobs import without_paths

    exc = ValueError(
        "/srv/faceprint/server-data/jobs/ab12/clip.mp4: not a video FFmpeg can read "
        "(No such file: 'file:/srv/private/secret.ts', C:\\data\\x.ts)"
    )
    text = without_paths(exc)
    assert "/srv" not in text and "private" not in text and "data" not in text, text
    assert text.startswith("clip.mp4: not a video") and "secret.ts" in text


@pytest.mark.parametrize(
    "date", ["2019-13-45", "2019-02-30", "2019-00", "2019-04-31T10:00", "2019-01-01T25:00"]
)
def test_impossible_dates_are_refused(date: str) -> None:
    from faceprint.library.queries import date_bound

    with pytest.raises(InvalidArgumentError, match="not a real date"):
        date_bound(date, upper=False)
    assert date_bound("2020-02-29", upper=True) == "2020-02-29\x7f"
