"""Enrolled people: list, enrol with images, read, rename, delete, add/remove templates, and
template thumbnails."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi import Path as PathParam

from faceprint import names
from faceprint.errors import IdentityExistsError, InvalidArgumentError
from faceprint.gallery import Gallery, enroll
from faceprint.gallery.enroll import EnrolmentFace
from faceprint.gallery.gallery import MAX_PEOPLE_PAGE
from faceprint.pipeline import FaceChoice, parse_face_choice
from faceprint.server import schemas
from faceprint.server.errors import ApiError
from faceprint.server.routes._convert import thumbnail_url
from faceprint.server.routes._route import JsonRoute
from faceprint.server.state import AdminCaller, Caller, ReadCaller, ServerState, get_state
from faceprint.server.uploads import read_images

router = APIRouter(tags=["people"], route_class=JsonRoute)

ImageFiles = Annotated[list[UploadFile], File(description="one or more images, one face each")]
#: a person's id (:attr:`faceprint.gallery.Identity.id`): stable, never reused, URL-safe
PersonId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="the person's id")]
TemplateId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="a template's id")]
FaceField = Annotated[str, Form(description="largest, center, only or an index")]
#: people per page of ``GET /v1/people`` when none is asked for
PEOPLE_PAGE = 50


def clean_name(name: str) -> str:
    """A display name as stored (one rule on every surface: :func:`faceprint.names.clean_name`;
    any script, joiners included)."""
    return names.clean_name(name)


def face_choice(value: str) -> FaceChoice:
    """The ``face`` form field (:func:`faceprint.pipeline.parse_face_choice`)."""
    try:
        return parse_face_choice(value)
    except InvalidArgumentError as exc:
        raise ApiError(400, "invalid_argument", str(exc)) from None


async def _enrol(
    state: ServerState, name: str, files: list[UploadFile], face: str, *, append: bool
) -> tuple[int, list[schemas.Skipped]]:
    uploads = await read_images(files, state.config.limits, "images")
    choice, limit = face_choice(face), state.config.limits.max_pixels
    images = [(up.name, up.data) for up in uploads]
    faces, skipped = await state.infer(
        lambda fa: enroll.embed_each(fa, images, choice, max_pixels=limit)
    )
    out = [schemas.Skipped(file=f, reason=r) for f, r in skipped]
    if not faces:
        reasons = "; ".join(f"{s.file}: {s.reason}" for s in out[:3])
        raise ApiError(422, "no_face", f"no image gave a face to enrol ({reasons})")
    await state.index(_store, state.gallery, name, faces, append)
    return len(faces), out


def _store(gallery: Gallery, name: str, faces: list[EnrolmentFace], append: bool) -> None:
    if append:
        gallery.get(name)  # 404 when it was deleted meanwhile
    gallery.add_embeddings(
        [name] * len(faces),
        np.stack([f.embedding for f in faces]),
        sources=[f.source for f in faces],
        boxes=np.asarray([f.box for f in faces]),
        thumbnails=[f.thumbnail for f in faces],
        append=append,
    )


def _page(gallery: Gallery, query: str, limit: int, offset: int) -> schemas.PeopleOut:
    page = gallery.people(query, limit=limit, offset=offset)
    return schemas.PeopleOut(
        people=[
            schemas.PersonSummary(
                id=p.id,
                name=p.name,
                templates=p.template_count,
                thumbnail_url=thumbnail_url(p.thumbnail_template),
                created_at=p.created_at,
            )
            for p in page.people
        ],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


def _person(gallery: Gallery, name: str) -> schemas.PersonOut:
    person = gallery.get(name)
    templates = [
        schemas.TemplateOut(
            id=t.id, source=t.source, thumbnail_url=thumbnail_url(t.id if t.has_thumbnail else None)
        )
        for t in gallery.templates(person.name)
    ]
    return schemas.PersonOut(
        id=person.id,
        name=person.name,
        metadata=dict(person.metadata),
        created_at=person.created_at,
        templates=templates,
    )


def _person_by_id(gallery: Gallery, person_id: int) -> schemas.PersonOut:
    return _person(gallery, gallery.name_of(person_id))


@router.get("/people", response_model=schemas.PeopleOut)
async def list_people(
    request: Request,
    q: Annotated[
        str, Query(max_length=1024, description="only names containing this (any case)")
    ] = "",
    limit: Annotated[
        int, Query(ge=1, le=MAX_PEOPLE_PAGE, description="people per page")
    ] = PEOPLE_PAGE,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1, description="skip this many matches")] = 0,
    caller: Caller = ReadCaller,
) -> schemas.PeopleOut:
    """A page of the enrolled people, sorted by name, with their ids (address people by id
    in every route) and how many match in all; page with ``offset``, search with ``q``."""
    state = get_state(request)
    return await state.index(_page, state.gallery, q, limit, offset)


@router.get("/people/by-name", response_model=schemas.PersonOut)
async def find_person(
    request: Request,
    name: Annotated[str, Query(min_length=1, max_length=1024, description="the exact name")],
    caller: Caller = ReadCaller,
) -> schemas.PersonOut:
    """The person whose name is exactly ``name`` (after trimming surrounding spaces), with
    their id; 404 when nobody is called that."""
    state = get_state(request)
    return await state.index(_person, state.gallery, name.strip())


@router.post("/people", response_model=schemas.EnrollOut, status_code=201)
async def create_person(
    request: Request,
    name: Annotated[str, Form(description="display name (unique; any script)")],
    images: ImageFiles,
    face: FaceField = "largest",
    caller: Caller = AdminCaller,
) -> schemas.EnrollOut:
    """Enrol a new person from one or more images (files without a usable face are skipped
    and reported; at least one must give a face)."""
    state = get_state(request)
    name = clean_name(name)
    if name in state.gallery:
        raise IdentityExistsError(
            f"{name!r} is enrolled already; add images with POST /v1/people/{{id}}/templates"
        )
    added, skipped = await _enrol(state, name, images, face, append=False)
    person = await state.index(state.gallery.get, name)
    return schemas.EnrollOut(
        id=person.id, name=person.name, templates=person.template_count, added=added,
        skipped=skipped,
    )  # fmt: skip


@router.get("/people/{person_id}", response_model=schemas.PersonOut)
async def get_person(
    request: Request, person_id: PersonId, caller: Caller = ReadCaller
) -> schemas.PersonOut:
    """One person with their templates."""
    state = get_state(request)
    return await state.index(_person_by_id, state.gallery, person_id)


def _rename(gallery: Gallery, person_id: int, new: str) -> schemas.PersonOut:
    gallery.rename(gallery.name_of(person_id), new)
    return _person_by_id(gallery, person_id)


@router.patch("/people/{person_id}", response_model=schemas.PersonOut)
async def rename_person(
    request: Request, person_id: PersonId, body: schemas.RenameIn, caller: Caller = AdminCaller
) -> schemas.PersonOut:
    """Rename a person (the new name must be free; the id stays)."""
    state = get_state(request)
    return await state.index(_rename, state.gallery, person_id, clean_name(body.name))


def _remove(gallery: Gallery, person_id: int) -> None:
    gallery.remove(gallery.name_of(person_id))


@router.delete("/people/{person_id}", status_code=204)
async def delete_person(
    request: Request, person_id: PersonId, caller: Caller = AdminCaller
) -> Response:
    """Delete a person and every trace of their templates (database rows zeroed, index
    rewritten)."""
    state = get_state(request)
    await state.index(_remove, state.gallery, person_id)
    return Response(status_code=204)


@router.post("/people/{person_id}/templates", response_model=schemas.TemplatesOut)
async def add_templates(
    request: Request,
    person_id: PersonId,
    images: ImageFiles,
    face: FaceField = "largest",
    caller: Caller = AdminCaller,
) -> schemas.TemplatesOut:
    """Add face templates to an enrolled person."""
    state = get_state(request)
    name = await state.index(state.gallery.name_of, person_id)
    added, skipped = await _enrol(state, name, images, face, append=True)
    return schemas.TemplatesOut(added=added, skipped=skipped)


def _remove_template(gallery: Gallery, person_id: int, template_id: int) -> None:
    name = gallery.name_of(person_id)
    if template_id not in {t.id for t in gallery.templates(name)}:
        raise ApiError(404, "not_found", f"person {person_id} has no template {template_id}")
    gallery.remove_template(template_id)


@router.delete("/people/{person_id}/templates/{template_id}", status_code=204)
async def delete_template(
    request: Request, person_id: PersonId, template_id: TemplateId, caller: Caller = AdminCaller
) -> Response:
    """Delete one template of a person."""
    state = get_state(request)
    await state.index(_remove_template, state.gallery, person_id, template_id)
    return Response(status_code=204)


@router.get(
    "/thumbnails/{template_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "aligned face crop"}},
)
async def thumbnail(
    request: Request, template_id: TemplateId, caller: Caller = ReadCaller
) -> Response:
    """The JPEG of a template's aligned face crop."""
    state = get_state(request)
    data = await state.index(state.gallery.thumbnail, template_id)
    if data is None:
        raise ApiError(404, "not_found", f"no thumbnail for template {template_id}")
    return Response(
        content=data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )
