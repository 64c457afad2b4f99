"""Video uploads: ``POST /v1/videos`` stores the file under the server's data directory (size
and duration checked, the format sniffed by FFmpeg from the content) and starts a job that
computes screen time per person against the server's gallery; ``GET /v1/videos/find`` searches
the videos analysed so far."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from faceprint.errors import VideoError
from faceprint.gallery.enroll import MIN_TEMPLATE_FACE
from faceprint.pipeline import FaceAnalyzer
from faceprint.server import schemas
from faceprint.server.errors import ApiError
from faceprint.server.jobs import Job
from faceprint.server.routes._route import JsonRoute
from faceprint.server.routes.jobs import UNKNOWN_NAME, runner
from faceprint.server.routes.people import clean_name
from faceprint.server.state import AdminCaller, Caller, ReadCaller, ServerState, get_state
from faceprint.server.uploads import save_limited
from faceprint.video import VideoInfo, VideoOptions, probe, screentime, unknowns
from faceprint.video.index import DB_NAME, VideoIndex
from faceprint.video.render import write_timeline_png

router = APIRouter(tags=["videos"], route_class=JsonRoute)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
MEDIA = {
    "h264": "video/mp4",
    "hevc": "video/mp4",
    "mpeg4": "video/mp4",
    "vp8": "video/webm",
    "vp9": "video/webm",
    "av1": "video/mp4",
}


def _index_dir(state: ServerState) -> Path:
    return state.config.scratch / "video-index"


def _safe_name(name: str | None) -> str:
    stem = _SAFE.sub("_", Path(name or "video").name).strip("._")[:80]
    return stem or "video"


def _check(path: Path, max_seconds: float) -> VideoInfo:
    try:
        info = probe(path)
    except VideoError as exc:
        message = str(exc).replace(str(path), "video")
        raise ApiError(415, "unsupported_media_type", message) from None
    if info.duration > max_seconds:
        raise ApiError(
            413,
            "video_too_long",
            f"video: {info.duration:.0f} s is over the limit of {max_seconds:.0f} s",
        )
    return info


def _every(value: str) -> int | str:
    if value == "auto":
        return value
    if value.isdigit() and 1 <= int(value) <= 1000:
        return int(value)
    raise ApiError(
        400,
        "invalid_argument",
        f"every must be 'auto' or a whole number 1-1000, got {value[:20]!r}",
    )


_ENROL_LOCK = threading.Lock()


def job_analyzer(state: ServerState) -> FaceAnalyzer:
    """The background jobs' analyzer (of the gallery's pack)."""
    if state.job_analyzer is None:
        raise ApiError(503, "unavailable", "the job runner is not running")
    return state.job_analyzer.get()


def _video_work(state: ServerState, path: Path, every: int | str, use_gallery: bool) -> Any:
    def work(job: Job) -> dict[str, Any]:
        analyzer = job_analyzer(state)
        options = VideoOptions(every=every)  # type: ignore[arg-type]
        cast = state.gallery if use_gallery else None
        with VideoIndex.open(_index_dir(state)) as index:
            outcome = index.add(
                path,
                cast,
                analyzer=analyzer,
                options=options,
                progress=job.report,
                cancel=job.cancel,
            )
        result = outcome.result or screentime(
            path, cast, analyzer=analyzer, options=options, progress=job.report, cancel=job.cancel
        )
        job.files["timeline"] = write_timeline_png(result, job.directory / "timeline.png")
        for person in result.people:
            if person.known:
                continue
            tracks = [t for t in result.tracks if t.id in person.tracks]
            thumbs = [t.thumbnail for t in tracks if t.thumbnail]
            if thumbs:
                target = job.directory / f"{person.name}.jpg"
                target.write_bytes(thumbs[0])
                job.files[person.name] = target
            unknown = unknowns.unknown_faces(path.name, person.name, tracks)
            if unknown is not None:
                job.detail.setdefault("unknowns", {})[person.name] = unknown
        data = result.to_dict()
        # the unknown_N whose faces are big enough to enrol from the video (see unknown_faces)
        data["enrolable"] = sorted(job.detail.get("unknowns", {}))
        data["video"]["path"] = path.name
        data.pop("tracks", None)
        return data

    return work


@router.post(
    "/videos",
    status_code=202,
    response_model=schemas.VideoJobOut,
    responses={202: {"description": "the job, queued"}},
)
async def upload_video(
    request: Request,
    video: Annotated[UploadFile, File(description="a video file (any format FFmpeg reads)")],
    every: Annotated[str, Form(description="detect on every N-th frame, or 'auto'")] = "auto",
    cast: Annotated[
        str,
        Form(
            description="'gallery': name the server's enrolled people; 'none': everybody is unknown_N"
        ),
    ] = "gallery",
    caller: Caller = AdminCaller,
) -> schemas.VideoJobOut:
    """Analyse a video in the background: who is on screen when, and for how long."""
    state = get_state(request)
    limits = state.config.limits
    step = _every(every)
    if cast not in ("gallery", "none"):
        raise ApiError(
            400, "invalid_argument", f"cast must be 'gallery' or 'none', got {cast[:20]!r}"
        )
    name = _safe_name(video.filename)
    jobs = runner(request)
    pending = jobs.reserve("video")
    try:
        path = pending.directory / name
        await save_limited(video, path, limits.max_video_bytes, "video")
        info = await state.index(_check, path, limits.max_video_seconds)
    except BaseException:
        jobs.drop(pending.id)
        raise
    pending.files["video"] = path
    pending.detail["media_type"] = MEDIA.get(info.codec, "application/octet-stream")
    jobs.start(pending, _video_work(state, path, step, cast == "gallery"))
    return schemas.VideoJobOut(job=schemas.JobOut(**pending.snapshot()))


def _find(state: ServerState, name: str, with_name: str | None) -> list[schemas.VideoRangeOut]:
    folder = _index_dir(state)
    if not (folder / DB_NAME).is_file():
        return []
    with VideoIndex.open(folder, create=False) as index:
        found = index.find(name, with_name=with_name, gallery=state.gallery)
    return [
        schemas.VideoRangeOut(
            job=Path(r.video).parent.name,
            video=Path(r.video).name,
            start=round(r.start, 3),
            end=round(r.end, 3),
            names=list(r.names),
        )
        for r in found
    ]


@router.get("/videos/find", response_model=schemas.VideoRangesOut)
async def find_videos(
    request: Request,
    name: Annotated[
        str, Query(min_length=1, max_length=200, description="a person's name (or unknown_N)")
    ],
    with_: Annotated[
        str | None,
        Query(alias="with", max_length=200, description="only where this person is on screen too"),
    ] = None,
    caller: Caller = ReadCaller,
) -> schemas.VideoRangesOut:
    """Time ranges of the analysed videos where ``name`` is on screen (tracks named with the
    gallery as it is now, so people enrolled after a video was analysed are found in it)."""
    state = get_state(request)
    return schemas.VideoRangesOut(ranges=await state.index(_find, state, name, with_))


@router.post(
    "/jobs/{job_id}/unknowns/{unknown}/enrol",
    status_code=201,
    response_model=schemas.EnrollOut,
)
async def enrol_unknown(
    request: Request,
    job_id: str,
    unknown: str,
    body: schemas.EnrolUnknownIn,
    caller: Caller = AdminCaller,
) -> schemas.EnrollOut:
    """Enrol a video job's ``unknown_N`` under a name from the faces the job saw (the best
    face of a few of its tracks, no photo needed): a new person, or with ``append`` more
    templates of an enrolled one (an enrolled name without it is a 409). Run the video again
    to have it named."""
    state = get_state(request)
    job = runner(request).get(job_id)
    if not UNKNOWN_NAME.match(unknown):
        raise ApiError(404, "not_found", "unknown faces are named unknown_N")
    name = clean_name(body.name)
    with _ENROL_LOCK:
        enrolled: dict[str, str] = job.detail.setdefault("enrolled", {})
        if unknown in enrolled:
            raise ApiError(
                409,
                "conflict",
                f"{unknown} of job {job_id} is enrolled already as {enrolled[unknown]!r}",
            )
        faces: unknowns.UnknownFaces | None = job.detail.get("unknowns", {}).get(unknown)
        if faces is None:
            raise ApiError(
                404,
                "not_found",
                f"{unknown} of job {job_id} cannot be enrolled from the video: "
                + (
                    f"its faces are smaller than {MIN_TEMPLATE_FACE:.0f} pixels, too small to "
                    "recognise it reliably; enrol this person from a photo"
                    if job.status == "done"
                    else f"the job is {job.status}"
                ),
            )
        enrolled[unknown] = name
    try:
        person = await state.index(
            unknowns.enrol_unknown, state.gallery, name, faces, append=body.append
        )
    except BaseException:
        with _ENROL_LOCK:
            enrolled.pop(unknown, None)
        raise
    return schemas.EnrollOut(
        id=person.id,
        name=person.name,
        templates=person.template_count,
        added=len(faces.embeddings),
        skipped=[],
    )
