"""The Python client without a server: the Bearer header, names as one URL segment, and error
envelopes rebuilt as faceprint's exceptions (status, code, request id kept)."""

from __future__ import annotations

import httpx
import pytest

from faceprint.client import Client, ServiceError
from faceprint.errors import (
    IdentityExistsError,
    IdentityNotFoundError,
    ImageError,
    ImageTooLargeError,
    InvalidArgumentError,
    NoFaceError,
)


def _envelope(status: int, code: str, message: str = "m") -> httpx.Response:
    body = {"error": {"code": code, "message": message}, "request_id": "r1"}
    return httpx.Response(status, json=body, headers={"Retry-After": "3"} if status == 429 else {})


@pytest.mark.parametrize(
    ("status", "code", "raised"),
    [
        (422, "no_face", NoFaceError),
        (415, "unsupported_media_type", ImageError),
        (413, "image_too_large", ImageTooLargeError),
        (404, "not_found", IdentityNotFoundError),
        (409, "conflict", IdentityExistsError),
        (400, "invalid_argument", InvalidArgumentError),
        (401, "unauthorized", ServiceError),
        (429, "rate_limited", ServiceError),
        (500, "internal_error", ServiceError),
    ],
)
def test_error_envelopes_become_faceprint_errors(status: int, code: str, raised: type) -> None:
    transport = httpx.MockTransport(lambda request: _envelope(status, code, "one line"))
    with (
        Client("http://fp.test", "fp_key", transport=transport) as fp,
        pytest.raises(raised) as info,
    ):
        fp.people()
    assert str(info.value) == "one line"
    assert (info.value.status, info.value.code, info.value.request_id) == (status, code, "r1")  # type: ignore[attr-defined]


def test_key_goes_in_the_header_and_people_are_addressed_by_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/people/by-name":
            return _envelope(404, "not_found")
        return httpx.Response(204)

    with Client("http://fp.test/", "fp_secret", transport=httpx.MockTransport(handler)) as fp:
        fp.remove(7)
        with pytest.raises(IdentityNotFoundError):
            fp.find_person("Zoë/../../admin?x=1")
    request = seen[0]
    assert request.headers["authorization"] == "Bearer fp_secret"
    assert "fp_secret" not in str(request.url)
    assert request.url.raw_path == b"/v1/people/7"
    assert seen[1].url.path == "/v1/people/by-name"
    assert seen[1].url.params["name"] == "Zoë/../../admin?x=1"


def test_unreachable_server_is_a_service_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with (
        Client("http://fp.test", transport=httpx.MockTransport(handler)) as fp,
        pytest.raises(ServiceError, match="cannot reach"),
    ):
        fp.health()


def test_non_json_error_still_raises() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(502, text="<html>bad gateway</html>")
    )
    with (
        Client("http://fp.test", transport=transport) as fp,
        pytest.raises(ServiceError, match="HTTP 502"),
    ):
        fp.models()
