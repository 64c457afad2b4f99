"""The committed OpenAPI document (docs/openapi.json) is what the app serves; regenerate it
with ``python -m faceprint.server.openapi docs/openapi.json``."""

from __future__ import annotations

from pathlib import Path

from faceprint.server.openapi import openapi_document, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    assert DOC.read_text(encoding="utf-8") == render(openapi_document()), (
        "docs/openapi.json is stale: run `python -m faceprint.server.openapi docs/openapi.json`"
    )


def test_openapi_documents_auth_and_the_error_envelope() -> None:
    doc = openapi_document()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in ("/v1/detect", "/v1/verify", "/v1/identify", "/v1/search", "/v1/people"):
        assert path in doc["paths"]
    identify = doc["paths"]["/v1/identify"]["post"]
    assert identify["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorOut"
    )
    assert "security" not in doc["paths"]["/v1/health"]["get"]
