"""``faceprint serve``: the HTTP service (FastAPI on uvicorn) over a gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceprint.cli._app import app
from faceprint.cli._common import errors_to_exit


@app.command()
def serve(
    gallery: Annotated[
        Path,
        typer.Option(
            "--gallery", help="Gallery directory (created empty when absent).", show_default=False
        ),
    ],
    library: Annotated[Path | None, typer.Option(help="Photo-library directory to serve.")] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; without API keys only loopback is allowed.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    pack: Annotated[
        str | None, typer.Option(help="Model pack of a new gallery (default: dlib).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Analyzers loaded (= inference calls at once).")] = 2,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Server scratch space: uploaded videos, exports (default GALLERY/server-data)."
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin", help="Allow this browser origin (repeatable); CORS is off by default."
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Allow a non-loopback --host with no API key configured (anyone who can reach it may use and change the gallery).",
        ),
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="A host name clients may use in the Host header (repeatable; DNS-rebinding guard). Default: the loopback names when bound to loopback, the bound address otherwise.",
        ),
    ] = None,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            help="Address of a reverse proxy whose X-Forwarded-For is believed (repeatable); none by default.",
        ),
    ] = None,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MiB.")] = 64.0,
    max_image_mb: Annotated[float, typer.Option(help="Largest image file, MiB.")] = 20.0,
    max_pixels: Annotated[
        int, typer.Option(help="Largest image, pixels (checked from the header).")
    ] = 40_000_000,
    rate: Annotated[
        float, typer.Option(help="Requests per second per key (burst: twice that).")
    ] = 50.0,
    concurrent: Annotated[int, typer.Option(help="Requests of one key in progress at once.")] = 16,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the faceprint API (under /v1; OpenAPI at /openapi.json). Ctrl-C stops it after the
    requests in flight finish."""
    import logging

    from faceprint._optional import require

    mib = 1024 * 1024
    with errors_to_exit():
        uvicorn = require("uvicorn", feature="faceprint serve")
        from faceprint.server import Limits, ServerConfig, create_app
        from faceprint.server.run import uvicorn_config

        limits = Limits(
            max_body_bytes=int(max_body_mb * mib),
            max_image_bytes=int(max_image_mb * mib),
            max_pixels=max_pixels,
            rate_per_second=rate,
            rate_burst=max(1, int(rate * 2)),
            concurrent_per_key=concurrent,
        )
        config = ServerConfig(
            gallery=gallery, library=library, host=host, port=port, pack=pack, workers=workers, data_dir=data_dir,
            cors_origins=tuple(cors_origin or ()), insecure_no_auth=insecure_no_auth, limits=limits,
            allowed_hosts=tuple(allowed_host or ()), trusted_proxies=tuple(trusted_proxy or ()),
        )  # fmt: skip
        application = create_app(config)
    logging.getLogger("faceprint.server").setLevel(logging.INFO)
    uvicorn.Server(uvicorn_config(application, config, log_level=log_level)).run()
