"""The photo library (``faceprint serve --library DIR``): scan status and scans of the
configured photo tree (never a path a client names), clusters with contact sheets, label /
merge / reject, finding a person's photos, and the photos themselves (by id, only inside the
tree, downscaled)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from PIL import Image
from pydantic import BaseModel, Field

from faceprint.imageio import load_image
from faceprint.library import ClusterInfo, FaceRecord, FoundPhoto, Library, to_jsonable
from faceprint.library.browse import ClusterCard, Suggestion
from faceprint.server import schemas
from faceprint.server.errors import ApiError
from faceprint.server.jobs import Job
from faceprint.server.routes._route import JsonRoute
from faceprint.server.routes.jobs import runner
from faceprint.server.state import AdminCaller, Caller, ReadCaller, ServerState, get_state

router = APIRouter(prefix="/library", tags=["library"], route_class=JsonRoute)
T = TypeVar("T")
#: faces listed per cluster (the contact sheet shows them all)
FACES_PER_CLUSTER = 12


class LabelIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    append: bool = Field(
        default=False, description="add the cluster to a person who exists already"
    )


class MergeIn(BaseModel):
    into: int = Field(ge=0, le=2**63 - 1)
    other: int = Field(ge=0, le=2**63 - 1)


#: a face, cluster or photo id (SQLite integers: beyond int64 is a 422, not an overflow)
Id = Annotated[int, Path(ge=0, le=2**63 - 1)]


class HideIn(BaseModel):
    hidden: bool = True


class FacesIn(BaseModel):
    faces: list[Annotated[int, Field(ge=0, le=2**63 - 1)]] = Field(min_length=1, max_length=100_000)


class RestoreIn(BaseModel):
    cluster: int = Field(ge=0, le=2**63 - 1)


Page = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def _card(card: ClusterCard) -> schemas.ClusterCardOut:
    return schemas.ClusterCardOut(
        id=card.id,
        size=card.size,
        name=card.name,
        hidden=card.hidden,
        cover_url=None if card.cover is None else f"/v1/library/faces/{card.cover}/thumbnail",
    )


def _suggestion(found: Suggestion) -> schemas.SuggestionOut:
    return schemas.SuggestionOut(**vars(_card(found.card)), similarity=round(found.similarity, 4))


def library(state: ServerState) -> Library:
    """The configured library, or 404 when the server has none."""
    lib = state.library
    if lib is None:
        raise ApiError(
            404, "not_found", "this server has no photo library (start it with --library DIR)"
        )
    return lib


async def call(state: ServerState, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a library call in a worker thread (a face, cluster or photo id that names nothing
    is a :class:`~faceprint.errors.RecordNotFoundError`: a 404)."""
    return await state.index(fn, *args, **kwargs)


def _face(face: FaceRecord) -> schemas.LibraryFaceOut:
    return schemas.LibraryFaceOut(
        id=face.id,
        box=[round(float(v), 2) for v in face.box],
        name=face.name,
        cluster=face.cluster,
        quality=round(face.quality, 3),
        thumbnail_url=f"/v1/library/faces/{face.id}/thumbnail",
    )


def _cluster(info: ClusterInfo, faces: int = FACES_PER_CLUSTER) -> schemas.ClusterOut:
    return schemas.ClusterOut(
        id=info.id,
        size=info.size,
        name=info.name,
        sheet_url=f"/v1/library/clusters/{info.id}/sheet.png",
        faces=[_face(f) for f in info.faces[:faces]],
    )


def _photo(photo: FoundPhoto) -> schemas.PhotoOut:
    return schemas.PhotoOut(
        id=photo.id,
        path=photo.path,
        taken=photo.taken,
        width=photo.width,
        height=photo.height,
        url=f"/v1/library/photos/{photo.id}",
        faces=[_face(f) for f in photo.faces],
    )


@router.get("/status", response_model=schemas.LibraryStatusOut)
async def status(request: Request, caller: Caller = ReadCaller) -> schemas.LibraryStatusOut:
    """Counts of photos, faces, clusters and named faces, and the state of the last scan."""
    state = get_state(request)
    found = await call(state, library(state).status)
    scan = state.scan_job
    detail = {} if scan is None else scan.detail
    return schemas.LibraryStatusOut(
        root=found.root,
        photos=found.photos,
        faces=found.faces,
        clusters=found.clusters,
        named=found.named,
        people=list(found.people),
        unclustered=found.unclustered,
        scan=schemas.ScanState(
            job=None if scan is None else scan.id,
            running=scan is not None and scan.status in ("queued", "running"),
            status=None if scan is None else scan.status,
            done=detail.get("done", 0),
            total=detail.get("total"),
            errors=detail.get("errors", 0),
        ),
    )


def _scan_work(lib: Library) -> Callable[[Job], dict[str, Any]]:
    def work(job: Job) -> dict[str, Any]:
        report = lib.scan(workers=0, progress=job.report, cancel=job.cancel)
        job.detail["errors"] = len(report.errors)
        result: dict[str, Any] = {"scan": to_jsonable(report)}
        if not report.cancelled:
            result["cluster"] = to_jsonable(lib.cluster())
        return result

    return work


@router.post("/scan", status_code=202, response_model=schemas.ScanOut)
async def scan(request: Request, caller: Caller = AdminCaller) -> schemas.ScanOut:
    """Index new and changed photos of the configured tree, then cluster (a background job)."""
    state = get_state(request)
    lib = library(state)
    if lib.root is None:
        raise ApiError(
            409,
            "conflict",
            "the library has no photo tree yet; scan one with `faceprint library scan` first",
        )
    running = state.scan_job
    if running is not None and running.status in ("queued", "running"):
        raise ApiError(409, "conflict", f"a scan is running already (job {running.id})")
    job = runner(request).submit("library-scan", _scan_work(lib))
    state.scan_job = job
    return schemas.ScanOut(job=job.id)


@router.get("/clusters", response_model=schemas.ClustersOut)
async def clusters(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    caller: Caller = ReadCaller,
) -> schemas.ClustersOut:
    """Clusters (named people and unnamed groups), largest first."""
    state = get_state(request)
    found = await call(state, library(state).clusters, limit=limit, offset=offset)
    return schemas.ClustersOut(
        clusters=[_cluster(c) for c in found.clusters], unclustered=len(found.unclustered)
    )


@router.get("/people")
async def people(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Page = 48,
    offset: Offset = 0,
    hidden: bool = False,
    caller: Caller = ReadCaller,
) -> schemas.CardsPageOut:
    """One page of clusters (people and unnamed groups), one best face each, largest first;
    ``q`` keeps the names containing it; ``hidden`` lists the hidden ones instead."""
    state = get_state(request)
    lib = library(state)
    total, cards = await call(
        state, lib.people_page, query=q, limit=limit, offset=offset, hidden=hidden
    )
    return schemas.CardsPageOut(total=total, offset=offset, clusters=[_card(c) for c in cards])


@router.get("/clusters/{cluster_id}/faces")
async def cluster_faces(
    request: Request,
    cluster_id: Id,
    limit: Page = 60,
    offset: Offset = 0,
    caller: Caller = ReadCaller,
) -> schemas.ClusterFacesOut:
    """A cluster and one page of its faces, best first."""
    state = get_state(request)
    card, faces = await call(
        state, library(state).cluster_faces, cluster_id, limit=limit, offset=offset
    )
    return schemas.ClusterFacesOut(_card(card), offset, [_face(f) for f in faces])


@router.get("/clusters/{cluster_id}/suggestions")
async def suggestions(
    request: Request,
    cluster_id: Id,
    k: Annotated[int, Query(ge=1, le=20)] = 5,
    caller: Caller = ReadCaller,
) -> schemas.SuggestionsOut:
    """Clusters that may be the same person, nearest mean face first."""
    state = get_state(request)
    found = await call(state, library(state).suggestions, cluster_id, k=k)
    return schemas.SuggestionsOut([_suggestion(s) for s in found])


@router.post("/clusters/{cluster_id}/hide")
async def hide(
    request: Request, cluster_id: Id, body: HideIn, caller: Caller = AdminCaller
) -> schemas.ClusterCardOut:
    """Hide a cluster from the people page (``hidden: false`` shows it again)."""
    state = get_state(request)
    return _card(await call(state, library(state).hide, cluster_id, body.hidden))


@router.post("/split")
async def split(
    request: Request, body: FacesIn, caller: Caller = AdminCaller
) -> schemas.ClusterCardOut:
    """Undo a merge: the faces (the ``moved`` list a merge answered) leave for a new group."""
    state = get_state(request)
    return _card(await call(state, library(state).split, body.faces))


@router.get("/unclustered")
async def unclustered(
    request: Request, limit: Page = 60, offset: Offset = 0, caller: Caller = ReadCaller
) -> schemas.FacesPageOut:
    """One page of the faces in no cluster and with no name, best first."""
    state = get_state(request)
    total, faces = await call(state, library(state).unclustered_page, limit=limit, offset=offset)
    return schemas.FacesPageOut(total=total, offset=offset, faces=[_face(f) for f in faces])


@router.post("/faces/{face_id}/label", response_model=schemas.ClusterOut)
async def label_face(
    request: Request, face_id: Id, body: LabelIn, caller: Caller = AdminCaller
) -> schemas.ClusterOut:
    """Name one face that is in no cluster (a taken name is a 409 unless ``append``)."""
    state = get_state(request)
    lib = library(state)
    return _cluster(await call(state, lib.label_face, face_id, body.name, append=body.append))


@router.post("/faces/{face_id}/restore", response_model=schemas.LibraryFaceOut)
async def restore(
    request: Request, face_id: Id, body: RestoreIn, caller: Caller = AdminCaller
) -> schemas.LibraryFaceOut:
    """Undo "not them": the face returns to the cluster it was taken out of."""
    state = get_state(request)
    face = await call(state, library(state).restore_face, face_id, body.cluster)
    return _face(face)


@router.get(
    "/clusters/{cluster_id}/sheet.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def sheet(request: Request, cluster_id: Id, caller: Caller = ReadCaller) -> Response:
    """A contact sheet of the cluster's faces (captioned with face ids)."""
    state = get_state(request)
    return Response(await call(state, library(state).sheet, cluster_id), media_type="image/png")


@router.post("/clusters/{cluster_id}/label", response_model=schemas.ClusterOut)
async def label(
    request: Request, cluster_id: Id, body: LabelIn, caller: Caller = AdminCaller
) -> schemas.ClusterOut:
    """Name a cluster (the person joins the library's gallery); a name that is a person
    already is refused (409) unless ``append``."""
    state = get_state(request)
    lib = library(state)
    return _cluster(await call(state, lib.label, cluster_id, body.name, append=body.append))


@router.post("/clusters/merge", response_model=schemas.MergeOut)
async def merge(request: Request, body: MergeIn, caller: Caller = AdminCaller) -> schemas.MergeOut:
    """Merge cluster ``other`` into ``into`` (a named one keeps its name); ``moved`` lists the
    faces that joined, for an undo (POST /v1/library/split)."""
    state = get_state(request)
    if body.into == body.other:
        raise ApiError(400, "invalid_argument", "into and other must be different clusters")
    return await call(state, _merge, library(state), body.into, body.other)


def _merge(lib: Library, into: int, other: int) -> schemas.MergeOut:
    """The merged cluster and ``moved``: the faces that joined it (POST /split undoes it)."""
    before = {cid: [f.id for f in lib.cluster_info(cid).faces] for cid in (into, other)}
    merged = lib.merge(into, other)
    moved = before[other] if merged.id == into else before[into]
    return schemas.MergeOut(**vars(_cluster(merged)), moved=moved)


@router.post("/faces/{face_id}/reject", response_model=schemas.RejectOut)
async def reject(request: Request, face_id: Id, caller: Caller = AdminCaller) -> schemas.RejectOut:
    """Say "not this person": the face leaves its person or cluster, for good."""
    state = get_state(request)
    face = await call(state, library(state).remove_face, face_id)
    return schemas.RejectOut(face=face.id)


@router.get(
    "/faces/{face_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def face_thumbnail(request: Request, face_id: Id, caller: Caller = ReadCaller) -> Response:
    """A face's aligned crop."""
    state = get_state(request)
    data = await call(state, library(state).face_thumbnail, face_id)
    if data is None:
        raise ApiError(404, "not_found", f"face {face_id} has no thumbnail")
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


@router.get("/find", response_model=schemas.PhotosOut)
async def find(
    request: Request,
    name: Annotated[str, Query(min_length=1, max_length=200)],
    with_: Annotated[list[str] | None, Query(alias="with", max_length=200)] = None,
    without: Annotated[list[str] | None, Query(max_length=200)] = None,
    date_from: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    caller: Caller = ReadCaller,
) -> schemas.PhotosOut:
    """Every photo of ``name`` (with each of ``with``, none of ``without``), oldest first;
    dates ``YYYY[-MM[-DD]]`` inclusive."""
    state = get_state(request)
    found = await call(
        state,
        library(state).find,
        name,
        with_=with_ or (),
        without=without or (),
        date_from=date_from,
        date_to=date_to,
    )
    return schemas.PhotosOut(photos=[_photo(p) for p in found])


def _downscaled(lib: Library, photo_id: Id, max_side: int) -> bytes:
    rgb = load_image(lib.photo_path(photo_id))
    img = Image.fromarray(rgb)
    img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88)
    return buf.getvalue()


@router.get(
    "/photos/{photo_id}", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
)
async def photo(
    request: Request,
    photo_id: Id,
    max_side: Annotated[int, Query(ge=64, le=4096)] = 1600,
    caller: Caller = ReadCaller,
) -> Response:
    """A photo of the library (by id; only files inside its tree), as a JPEG at most
    ``max_side`` pixels on its longer side (EXIF orientation applied)."""
    state = get_state(request)
    data = await call(state, _downscaled, library(state), photo_id, max_side)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )
