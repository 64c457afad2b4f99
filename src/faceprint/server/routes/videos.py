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
from faceprint.pipeline import FaceAnalyzer
from faceprint.server.errors import ApiError
from faceprint.server.jobs import Job
from faceprint.server.routes.jobs import runner
from faceprint.server.state import AdminCaller, Caller, ReadCaller, ServerState, get_state
from faceprint.server.uploads import CHUNK
from faceprint.video import VideoInfo, VideoOptions, probe, screentime
from faceprint.video.index import DB_NAME, VideoIndex
from faceprint.video.render import write_timeline_png

router = APIRouter(tags=["videos"])

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


async def _save(upload: UploadFile, target: Path, limit: int) -> None:
    total = 0
    with target.open("wb") as fh:
        while chunk := await upload.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise ApiError(413, "file_too_large", f"video: over the limit of {limit} bytes")
            fh.write(chunk)
    if total == 0:
        raise ApiError(400, "empty_file", "video: the file is empty")


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


class _JobAnalyzer:
    """One analyzer for background jobs, loaded by the first job (the API's pool stays free)."""

    def __init__(self, pack: str) -> None:
        self.pack = pack
        self._lock = threading.Lock()
        self._analyzer: FaceAnalyzer | None = None

    def get(self) -> FaceAnalyzer:
        with self._lock:
            if self._analyzer is None:
                self._analyzer = FaceAnalyzer(self.pack)
            return self._analyzer


def job_analyzer(state: ServerState) -> FaceAnalyzer:
    """The background jobs' analyzer (of the gallery's pack)."""
    holder: _JobAnalyzer = state.extras.setdefault("job_analyzer", _JobAnalyzer(state.gallery.pack))
    return holder.get()


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
            thumbs = [t.thumbnail for t in result.tracks if t.id in person.tracks and t.thumbnail]
            if thumbs:
                target = job.directory / f"{person.name}.jpg"
                target.write_bytes(thumbs[0])
                job.files[person.name] = target
        data = result.to_dict()
        data["video"]["path"] = path.name
        data.pop("tracks", None)
        return data

    return work


@router.post("/videos", status_code=202, responses={202: {"description": "the job, queued"}})
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
) -> dict[str, Any]:
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
        await _save(video, path, limits.max_video_bytes)
        info = await state.index(_check, path, limits.max_video_seconds)
    except BaseException:
        jobs.drop(pending.id)
        raise
    pending.files["video"] = path
    pending.detail["media_type"] = MEDIA.get(info.codec, "application/octet-stream")
    jobs.start(pending, _video_work(state, path, step, cast == "gallery"))
    return {"job": pending.snapshot()}


def _find(state: ServerState, name: str, with_name: str | None) -> list[dict[str, Any]]:
    folder = _index_dir(state)
    if not (folder / DB_NAME).is_file():
        return []
    with VideoIndex.open(folder, create=False) as index:
        found = index.find(name, with_name=with_name)
    out = []
    for r in found:
        item = r.to_dict()
        item["job"] = Path(r.video).parent.name
        item["video"] = Path(r.video).name
        out.append(item)
    return out


@router.get("/videos/find")
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
) -> dict[str, Any]:
    """Time ranges of the analysed videos where ``name`` is on screen."""
    state = get_state(request)
    return {"ranges": await state.index(_find, state, name, with_)}
