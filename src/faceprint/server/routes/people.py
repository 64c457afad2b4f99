"""Enrolled people: list, enrol with images, read, rename, delete, add/remove templates, and
template thumbnails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from faceprint import names
from faceprint.errors import (
    AmbiguousFaceError,
    IdentityExistsError,
    ImageError,
    InvalidArgumentError,
    NoFaceError,
)
from faceprint.gallery import Gallery
from faceprint.gallery.enroll import EnrolmentFace, embed_for_enrolment
from faceprint.imageio import load_image
from faceprint.pipeline import FaceAnalyzer, FaceChoice, parse_face_choice
from faceprint.server import schemas
from faceprint.server.errors import ApiError
from faceprint.server.routes._convert import thumbnail_url
from faceprint.server.state import AdminCaller, Caller, ReadCaller, ServerState, get_state
from faceprint.server.uploads import Upload, read_images

router = APIRouter(tags=["people"])

ImageFiles = Annotated[list[UploadFile], File(description="one or more images, one face each")]


def clean_name(name: str) -> str:
    """A display name as stored (:func:`faceprint.names.clean_name`: the library's rule)."""
    try:
        return names.clean_name(name)
    except InvalidArgumentError as exc:
        raise ApiError(400, "invalid_argument", str(exc)) from None


def face_choice(value: str) -> FaceChoice:
    """The ``face`` form field (:func:`faceprint.pipeline.parse_face_choice`)."""
    try:
        return parse_face_choice(value)
    except InvalidArgumentError as exc:
        raise ApiError(400, "invalid_argument", str(exc)) from None


def _embed_uploads(
    uploads: list[Upload], choice: FaceChoice, max_pixels: int
) -> Callable[[FaceAnalyzer], tuple[list[EnrolmentFace], list[schemas.Skipped]]]:
    def run(fa: FaceAnalyzer) -> tuple[list[EnrolmentFace], list[schemas.Skipped]]:
        done: list[EnrolmentFace] = []
        skipped: list[schemas.Skipped] = []
        for up in uploads:
            try:
                rgb = load_image(up.data, max_pixels=max_pixels)
                done.append(embed_for_enrolment(fa, rgb, choice, source=up.name))
            except (NoFaceError, AmbiguousFaceError, ImageError) as exc:
                reason = str(exc).split(": ", 1)[-1] if str(exc).startswith("<") else str(exc)
                skipped.append(schemas.Skipped(file=up.name, reason=reason))
        return done, skipped

    return run


async def _enrol(
    state: ServerState, name: str, files: list[UploadFile], face: str, *, append: bool
) -> tuple[int, list[schemas.Skipped]]:
    uploads = await read_images(files, state.config.limits, "images")
    run = _embed_uploads(uploads, face_choice(face), state.config.limits.max_pixels)
    faces, skipped = await state.infer(run)
    if not faces:
        reasons = "; ".join(f"{s.file}: {s.reason}" for s in skipped[:3])
        raise ApiError(422, "no_face", f"no image gave a face to enrol ({reasons})")
    await state.index(_store, state.gallery, name, faces, append)
    return len(faces), skipped


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


def _summaries(gallery: Gallery) -> list[schemas.PersonSummary]:
    out = []
    for person in gallery.identities():
        thumbs = [t.id for t in gallery.templates(person.name) if t.has_thumbnail]
        out.append(
            schemas.PersonSummary(
                name=person.name,
                templates=person.template_count,
                thumbnail_url=thumbnail_url(thumbs[0] if thumbs else None),
                created_at=person.created_at,
            )
        )
    return out


def _person(gallery: Gallery, name: str) -> schemas.PersonOut:
    person = gallery.get(name)
    templates = [
        schemas.TemplateOut(
            id=t.id, source=t.source, thumbnail_url=thumbnail_url(t.id if t.has_thumbnail else None)
        )
        for t in gallery.templates(person.name)
    ]
    return schemas.PersonOut(
        name=person.name,
        metadata=dict(person.metadata),
        created_at=person.created_at,
        templates=templates,
    )


@router.get("/people", response_model=schemas.PeopleOut)
async def list_people(request: Request, caller: Caller = ReadCaller) -> schemas.PeopleOut:
    """Every enrolled person, by name."""
    state = get_state(request)
    return schemas.PeopleOut(people=await state.index(_summaries, state.gallery))


@router.post("/people", response_model=schemas.EnrollOut, status_code=201)
async def create_person(
    request: Request,
    name: Annotated[str, Form(description="display name (unique)")],
    images: ImageFiles,
    face: Annotated[str, Form(description="largest, center, only or an index")] = "largest",
    caller: Caller = AdminCaller,
) -> schemas.EnrollOut:
    """Enrol a new person from one or more images (files without a usable face are skipped
    and reported; at least one must give a face)."""
    state = get_state(request)
    name = clean_name(name)
    if name in state.gallery:
        raise IdentityExistsError(
            f"{name!r} is enrolled already; add images with POST /v1/people/{{name}}/templates"
        )
    added, skipped = await _enrol(state, name, images, face, append=False)
    person = await state.index(state.gallery.get, name)
    return schemas.EnrollOut(
        name=person.name, templates=person.template_count, added=added, skipped=skipped
    )


@router.get("/people/{name}", response_model=schemas.PersonOut)
async def get_person(request: Request, name: str, caller: Caller = ReadCaller) -> schemas.PersonOut:
    """One person with their templates."""
    state = get_state(request)
    return await state.index(_person, state.gallery, name)


@router.patch("/people/{name}", response_model=schemas.PersonOut)
async def rename_person(
    request: Request, name: str, body: schemas.RenameIn, caller: Caller = AdminCaller
) -> schemas.PersonOut:
    """Rename a person (the new name must be free)."""
    state = get_state(request)
    new = clean_name(body.name)
    await state.index(state.gallery.rename, name, new)
    return await state.index(_person, state.gallery, new)


@router.delete("/people/{name}", status_code=204)
async def delete_person(request: Request, name: str, caller: Caller = AdminCaller) -> Response:
    """Delete a person and every trace of their templates (database rows zeroed, index
    rewritten)."""
    state = get_state(request)
    await state.index(state.gallery.remove, name)
    return Response(status_code=204)


@router.post("/people/{name}/templates", response_model=schemas.TemplatesOut)
async def add_templates(
    request: Request,
    name: str,
    images: ImageFiles,
    face: Annotated[str, Form(description="largest, center, only or an index")] = "largest",
    caller: Caller = AdminCaller,
) -> schemas.TemplatesOut:
    """Add face templates to an enrolled person."""
    state = get_state(request)
    await state.index(state.gallery.get, name)
    added, skipped = await _enrol(state, name, images, face, append=True)
    return schemas.TemplatesOut(added=added, skipped=skipped)


def _remove_template(gallery: Gallery, name: str, template_id: int) -> None:
    if template_id not in {t.id for t in gallery.templates(name)}:
        raise ApiError(404, "not_found", f"{name!r} has no template {template_id}")
    gallery.remove_template(template_id)


@router.delete("/people/{name}/templates/{template_id}", status_code=204)
async def delete_template(
    request: Request, name: str, template_id: int, caller: Caller = AdminCaller
) -> Response:
    """Delete one template of a person."""
    state = get_state(request)
    await state.index(_remove_template, state.gallery, name, template_id)
    return Response(status_code=204)


@router.get(
    "/thumbnails/{template_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "aligned face crop"}},
)
async def thumbnail(request: Request, template_id: int, caller: Caller = ReadCaller) -> Response:
    """The JPEG of a template's aligned face crop."""
    state = get_state(request)
    data = await state.index(state.gallery.thumbnail, template_id)
    if data is None:
        raise ApiError(404, "not_found", f"no thumbnail for template {template_id}")
    return Response(
        content=data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )
