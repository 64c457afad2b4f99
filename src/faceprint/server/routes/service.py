"""``/v1/health`` (no auth, for probes) and ``/v1/models``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from faceprint import __version__
from faceprint.packs import get_pack
from faceprint.server import schemas
from faceprint.server.routes._route import JsonRoute
from faceprint.server.state import Caller, ReadCaller, get_state

router = APIRouter(tags=["service"], route_class=JsonRoute)


@router.get("/health", response_model=schemas.HealthOut)
async def health(request: Request) -> schemas.HealthOut:
    """Liveness and readiness: ``ok`` once the models are loaded."""
    state = get_state(request)
    people = await state.index(len, state.gallery)
    status = "ok" if state.pool is not None else "starting"
    return schemas.HealthOut(
        status=status, version=__version__, pack=state.gallery.pack, people=people
    )


@router.get("/models", response_model=schemas.ModelsOut)
async def models(request: Request, caller: Caller = ReadCaller) -> schemas.ModelsOut:
    """The model pack in use, its threshold (and where it comes from) and its licence."""
    state = get_state(request)
    pack = get_pack(state.gallery.pack)
    saved = state.gallery.settings.threshold
    source = (
        state.gallery.settings.threshold_source
        if saved is not None
        else state.gallery.space.threshold_source
    )
    return schemas.ModelsOut(
        pack=pack.name,
        dim=pack.dim,
        threshold=state.gallery.threshold,
        threshold_source=source,
        licence=pack.licence,
        detector=pack.detector,
        embedder=pack.embedder,
    )
