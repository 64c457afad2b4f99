"""Analysis of uploaded images: ``detect``, ``embed``, ``verify``, ``identify``, ``search``.

Each handler reads and checks its uploads (:mod:`faceprint.server.uploads`), then runs the
library in a worker thread: decoding and inference through the analyzer pool, gallery look-ups
through the bounded index threads. Nothing blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, Request, UploadFile

from faceprint import compare
from faceprint.cluster.resemble import DEFAULT_MARGIN, Resemblance, resemble_embeddings
from faceprint.compare import verify_embeddings
from faceprint.errors import GalleryError, IdentityNotFoundError, InvalidArgumentError, NoFaceError
from faceprint.gallery import Gallery, IdentifiedFace, Match
from faceprint.imageio import load_image
from faceprint.pipeline import FaceAnalyzer, select_face
from faceprint.server import schemas
from faceprint.server.errors import ApiError
from faceprint.server.routes._convert import box, detected, match_out, thumbnail_url
from faceprint.server.routes._route import JsonRoute
from faceprint.server.state import Caller, ReadCaller, ServerState, get_state
from faceprint.server.uploads import Upload, read_image, read_images
from faceprint.types import Face, Faces

router = APIRouter(tags=["analysis"], route_class=JsonRoute)

ImageFile = Annotated[UploadFile, File(description="an image (JPEG, PNG, WebP, GIF, BMP, TIFF)")]


def _analyze(
    upload: Upload, max_pixels: int, embed: bool
) -> Callable[[FaceAnalyzer], tuple[tuple[int, int], Faces]]:
    def run(fa: FaceAnalyzer) -> tuple[tuple[int, int], Faces]:
        rgb = load_image(upload.data, max_pixels=max_pixels)
        faces = fa.detect(rgb)
        if embed and len(faces):
            faces = fa.embed_faces(rgb, faces)
        return (int(rgb.shape[1]), int(rgb.shape[0])), faces

    return run


async def analyze(
    state: ServerState, upload: Upload, *, embed: bool
) -> tuple[tuple[int, int], Faces]:
    """(width, height) of the decoded image and its faces (embedded when asked)."""
    return await state.infer(_analyze(upload, state.config.limits.max_pixels, embed))


def _embed_one(upload: Upload, max_pixels: int, label: str) -> Callable[[FaceAnalyzer], Face]:
    def run(fa: FaceAnalyzer) -> Face:
        rgb = load_image(upload.data, max_pixels=max_pixels)
        faces = fa.detect(rgb)
        if len(faces) == 0:
            raise NoFaceError(f"{label}: no face found")
        index = select_face(faces, "largest", image_shape=rgb.shape, name=label)
        return fa.embed_faces(rgb, faces[[index]])[0]

    return run


def check_top_k(state: ServerState, top_k: int) -> int:
    limit = state.config.limits.max_top_k
    if not 1 <= top_k <= limit:
        raise ApiError(400, "invalid_argument", f"top_k must be between 1 and {limit}, got {top_k}")
    return top_k


def check_threshold(threshold: float | None) -> float | None:
    """``threshold`` checked by the library's rule (:func:`faceprint.compare.check_threshold`:
    a cosine in [-1, 1]), or ``None``."""
    if threshold is None:
        return None
    try:
        return compare.check_threshold(threshold)
    except InvalidArgumentError as exc:
        raise ApiError(400, "invalid_argument", str(exc)) from None


def threshold_info(gallery: Gallery) -> tuple[float, str]:
    """The gallery's decision threshold and where it comes from."""
    if gallery.settings.threshold is not None:
        return gallery.threshold, gallery.settings.threshold_source
    return gallery.threshold, gallery.space.threshold_source


@router.post("/detect", response_model=schemas.DetectOut)
async def detect(
    request: Request, image: ImageFile, caller: Caller = ReadCaller
) -> schemas.DetectOut:
    """Every face of the image: box, detector score, five landmarks."""
    state = get_state(request)
    upload = await read_image(image, state.config.limits, "image")
    (w, h), faces = await analyze(state, upload, embed=False)
    return schemas.DetectOut(width=w, height=h, faces=[detected(f) for f in faces])


@router.post("/embed", response_model=schemas.EmbedOut)
async def embed(
    request: Request, image: ImageFile, caller: Caller = ReadCaller
) -> schemas.EmbedOut:
    """As detect, with each face's embedding (biometric data: only on this explicit route)."""
    state = get_state(request)
    upload = await read_image(image, state.config.limits, "image")
    (w, h), faces = await analyze(state, upload, embed=True)
    return schemas.EmbedOut(width=w, height=h, faces=[detected(f, embedding=True) for f in faces])


@router.post("/verify", response_model=schemas.VerifyOut)
async def verify(
    request: Request,
    image_a: ImageFile,
    image_b: Annotated[
        UploadFile | None, File(description="the second image (or give person)")
    ] = None,
    person_id: Annotated[
        int | None,
        Form(ge=1, le=2**63 - 1, description="an enrolled person's id to compare image_a with"),
    ] = None,
    caller: Caller = ReadCaller,
) -> schemas.VerifyOut:
    """Is the largest face of ``image_a`` the same person as that of ``image_b`` (or as the
    enrolled person ``person_id``, scored by their best template)?"""
    state = get_state(request)
    if (image_b is None) == (person_id is None):
        raise ApiError(
            400, "invalid_argument", "give exactly one of image_b (a file) or person_id (an id)"
        )
    limits = state.config.limits
    a = await read_image(image_a, limits, "image_a")
    b = None if image_b is None else await read_image(image_b, limits, "image_b")
    face_a = await state.infer(_embed_one(a, limits.max_pixels, "image_a"))
    threshold, source = threshold_info(state.gallery)
    if b is not None:
        face_b: Face | None = await state.infer(_embed_one(b, limits.max_pixels, "image_b"))
        assert face_b is not None and face_a.embedding is not None and face_b.embedding is not None
        similarity = verify_embeddings(
            face_a.embedding, face_b.embedding, threshold=threshold
        ).similarity
    else:
        face_b = None
        assert person_id is not None and face_a.embedding is not None
        similarity = await state.index(_person_similarity, state.gallery, person_id, face_a)
    return schemas.VerifyOut(
        similarity=round(similarity, 6),
        threshold=threshold,
        threshold_source=source,
        same=similarity >= threshold,
        pack=state.gallery.pack,
        face_a=schemas.VerifyFace(box=box(face_a)),
        face_b=None if face_b is None else schemas.VerifyFace(box=box(face_b)),
    )


def _person_similarity(gallery: Gallery, person_id: int, face: Face) -> float:
    """Best similarity of ``face`` to the templates of person ``person_id`` (404 when unknown,
    409 when the person has no template)."""
    name = gallery.name_of(person_id)
    try:
        return gallery.similarity(name, np.asarray(face.embedding))
    except IdentityNotFoundError:
        raise
    except GalleryError as exc:
        raise ApiError(409, "conflict", str(exc)) from None


@router.post("/identify", response_model=schemas.IdentifyOut)
async def identify(
    request: Request,
    image: ImageFile,
    top_k: Annotated[int, Form(description="candidates per face")] = 3,
    threshold: Annotated[
        float | None, Form(description="cosine threshold (default: the gallery's)")
    ] = None,
    caller: Caller = ReadCaller,
) -> schemas.IdentifyOut:
    """Name every face of the image: the best enrolled person when similar enough, else
    ``unknown``; the ``top_k`` nearest people come along."""
    state = get_state(request)
    check_top_k(state, top_k)
    check_threshold(threshold)
    upload = await read_image(image, state.config.limits, "image")
    (w, h), faces = await analyze(state, upload, embed=True)
    found = await state.index(state.gallery.identify, faces, threshold=threshold, top_k=top_k)
    used = threshold if threshold is not None else state.gallery.threshold
    out = [
        schemas.IdentifiedOut(
            box=box(f.face) if f.face is not None else [],
            label=f.label,
            similarity=None if f.similarity == float("-inf") else round(f.similarity, 6),
            person_id=_named_id(f),
            matches=[match_out(m) for m in f.matches],
        )
        for f in found
    ]
    return schemas.IdentifyOut(width=w, height=h, threshold=used, faces=out)


@router.post("/search", response_model=schemas.SearchOut)
async def search(
    request: Request,
    image: ImageFile,
    top_k: Annotated[int, Form(description="lookalikes per face")] = 5,
    caller: Caller = ReadCaller,
) -> schemas.SearchOut:
    """The ``top_k`` enrolled people each face resembles most, whatever the threshold."""
    state = get_state(request)
    check_top_k(state, top_k)
    upload = await read_image(image, state.config.limits, "image")
    (w, h), faces = await analyze(state, upload, embed=True)
    found = await state.index(state.gallery.search, faces, top_k=top_k, thumbnails=False)
    threshold = state.gallery.threshold
    out = [
        schemas.SearchFace(box=box(face), matches=[_search_match(m, threshold) for m in matches])
        for face, matches in zip(faces, found)
    ]
    return schemas.SearchOut(width=w, height=h, threshold=threshold, faces=out)


def _named_id(found: IdentifiedFace) -> int | None:
    if found.name is None:
        return None
    return next((m.identity_id for m in found.matches if m.name == found.name), None)


def _search_match(match: Match, threshold: float) -> schemas.SearchMatch:
    return schemas.SearchMatch(
        person_id=match.identity_id,
        name=match.name,
        similarity=round(float(match.similarity), 6),
        above_threshold=match.similarity >= threshold,
        thumbnail_url=thumbnail_url(match.template_id),
    )


def _resemble(
    child: Upload, relatives: list[tuple[str, Upload]], margin: float, max_pixels: int
) -> Callable[[FaceAnalyzer], Resemblance]:
    def run(fa: FaceAnalyzer) -> Resemblance:
        c = _embed_one(child, max_pixels, "child")(fa).embedding
        embs = {
            name: _embed_one(up, max_pixels, f"relatives ({up.name})")(fa).embedding
            for name, up in relatives
        }
        return resemble_embeddings(c, embs, margin=margin, pack=fa.pack.name)  # type: ignore[arg-type]

    return run


def _relative_names(names: str | None, uploads: list[Upload]) -> list[str]:
    if names is None or not names.strip():
        found = [Path(u.name).stem or f"relative {i + 1}" for i, u in enumerate(uploads)]
    else:
        found = [n.strip() for n in names.split(",")]
        if len(found) != len(uploads) or not all(found):
            raise ApiError(
                400,
                "invalid_argument",
                f"names: give one non-empty name per relative ({len(uploads)}), comma-separated",
            )
    if len(set(found)) != len(found):
        raise ApiError(400, "invalid_argument", "names: each relative needs a distinct name")
    return found


@router.post("/resemble", response_model=schemas.ResembleOut)
async def resemble(
    request: Request,
    child: ImageFile,
    relatives: Annotated[
        list[UploadFile], File(description="two or more images, one relative each")
    ],
    names: Annotated[
        str | None, Form(description="the relatives' names, comma-separated (default: file names)")
    ] = None,
    margin: Annotated[
        float, Form(description="lead needed for a verdict, in standard deviations")
    ] = DEFAULT_MARGIN,
    caller: Caller = ReadCaller,
) -> schemas.ResembleOut:
    """Which relative the child's face resembles most, calibrated against unrelated faces
    (the pack's impostor statistics); ``undecided`` without a clear lead."""
    state = get_state(request)
    limits = state.config.limits
    if len(relatives) < 2:
        raise ApiError(400, "invalid_argument", "relatives: give two or more images")
    if not 0 <= margin <= 10:
        raise ApiError(400, "invalid_argument", f"margin must be between 0 and 10, got {margin}")
    kid = await read_image(child, limits, "child")
    ups = await read_images(relatives, limits, "relatives")
    pairs = list(zip(_relative_names(names, ups), ups))
    result = await state.infer(_resemble(kid, pairs, margin, limits.max_pixels))
    return schemas.ResembleOut(
        verdict=result.verdict or "undecided",
        lead=round(result.lead, 4),
        margin=result.margin,
        calibration=result.calibration,
        relatives=[
            schemas.RelativeOut(
                name=r.name,
                similarity=round(r.similarity, 6),
                z=round(r.z, 4),
                percentile=round(r.percentile, 4),
            )
            for r in result.relatives
        ],
        caveat=result.caveat,
    )
