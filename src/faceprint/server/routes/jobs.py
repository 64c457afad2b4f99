"""Background jobs (library scans, video analyses): list, state, cancel, and their files."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from faceprint.server import schemas
from faceprint.server.errors import ApiError
from faceprint.server.jobs import JobRunner
from faceprint.server.routes._route import JsonRoute
from faceprint.server.state import AdminCaller, Caller, ReadCaller, get_state

router = APIRouter(tags=["jobs"], route_class=JsonRoute)
#: the names video jobs give to people not in the gallery
UNKNOWN_NAME = re.compile(r"^unknown_\d{1,6}$")


def runner(request: Request) -> JobRunner:
    """The server's job runner."""
    jobs = get_state(request).jobs
    if jobs is None:
        raise ApiError(
            503, "unavailable", "the job runner is not running (server starting or stopping)"
        )
    return jobs


@router.get("/jobs", response_model=schemas.JobsOut)
async def list_jobs(request: Request, caller: Caller = ReadCaller) -> schemas.JobsOut:
    """Recent jobs, newest first (results left out: fetch a job for its result)."""
    jobs = [schemas.JobOut(**{**j.snapshot(), "result": None}) for j in runner(request).jobs()]
    return schemas.JobsOut(jobs=jobs)


@router.get("/jobs/{job_id}", response_model=schemas.JobOut)
async def get_job(request: Request, job_id: str, caller: Caller = ReadCaller) -> schemas.JobOut:
    """A job's state, progress (0..1) and, when done, its result."""
    return schemas.JobOut(**runner(request).get(job_id).snapshot())


@router.delete("/jobs/{job_id}", status_code=204)
async def cancel_job(request: Request, job_id: str, caller: Caller = AdminCaller) -> Response:
    """Cancel a queued or running job (what a scan committed stays)."""
    runner(request).cancel(job_id)
    return Response(status_code=204)


def _file(request: Request, job_id: str, key: str, media: str) -> FileResponse:
    job = runner(request).get(job_id)
    path = job.files.get(key)
    if path is None or not path.is_file():
        raise ApiError(404, "not_found", f"job {job_id} has no {key} (status {job.status})")
    return FileResponse(path, media_type=media)


@router.get(
    "/jobs/{job_id}/timeline.png",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}},
)
async def timeline(request: Request, job_id: str, caller: Caller = ReadCaller) -> FileResponse:
    """A video job's timeline chart."""
    return _file(request, job_id, "timeline", "image/png")


@router.get(
    "/jobs/{job_id}/unknowns/{name}.jpg",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def unknown(
    request: Request, job_id: str, name: str, caller: Caller = ReadCaller
) -> FileResponse:
    """The face of a video job's ``unknown_N``."""
    if not UNKNOWN_NAME.match(name):
        raise ApiError(404, "not_found", "unknown faces are named unknown_N")
    return _file(request, job_id, name, "image/jpeg")


@router.get(
    "/jobs/{job_id}/video",
    response_class=FileResponse,
    responses={200: {"content": {"video/*": {}}}},
)
async def video(request: Request, job_id: str, caller: Caller = ReadCaller) -> FileResponse:
    """The uploaded video of a video job (for playback next to its timeline)."""
    job = runner(request).get(job_id)
    return _file(
        request, job_id, "video", str(job.detail.get("media_type", "application/octet-stream"))
    )
