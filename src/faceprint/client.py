"""A typed Python client of the faceprint HTTP service, on httpx.

Method names are the library's (``detect``, ``verify``, ``identify``, ``search``, ``people``,
``enroll``, ``remove``, ``rename``, ``export``, ``import_``); results are the API's response
models: the pydantic models derived from the response dataclasses of
:mod:`faceprint.server.schemas` (:func:`faceprint._json.json_model`: the same attribute names, as
JSON values: lists for boxes and embeddings); errors come back as faceprint's own exceptions
(:class:`~faceprint.errors.NoFaceError`, :class:`~faceprint.errors.IdentityNotFoundError`, …),
rebuilt from the error envelope, with ``.status``, ``.code`` and ``.request_id``::

    from faceprint.client import Client

    with Client("http://127.0.0.1:8000", api_key="fp_...") as fp:
        print(fp.verify("obama.jpg", "obama2.jpg").same)
        for face in fp.identify("group.jpg").faces:
            print(face.label, face.similarity)

Images are paths (read here and uploaded), bytes, or binary file objects; the server never
fetches URLs or reads its own paths.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar, cast
from urllib.parse import quote

try:
    import httpx
except ImportError as _exc:
    from faceprint._optional import missing

    raise missing("httpx", feature="faceprint.client") from _exc

from faceprint._json import json_model
from faceprint.errors import CODES, FaceprintError, ServiceError
from faceprint.server import schemas

__all__ = ["Client", "ImageSource", "ServiceError"]

ImageSource = str | os.PathLike[str] | bytes | IO[bytes]
M = TypeVar("M")
#: people per request when listing every person (the server's most:
#: ``faceprint.gallery.gallery.MAX_PEOPLE_PAGE``)
MAX_PEOPLE_PAGE = 1000


#: error code of the envelope → the faceprint error raised (derived from the error classes)
ERRORS: dict[str, type[FaceprintError]] = dict(CODES)


def _parse(result: type[M], data: Any) -> M:
    """``data`` validated by :func:`~faceprint._json.json_model` of ``result`` (an instance of
    that model: the result's attributes, as JSON values)."""
    return cast(M, json_model(result).model_validate(data))


def _error(response: httpx.Response) -> FaceprintError:
    try:
        body = response.json()
        code, message = body["error"]["code"], body["error"]["message"]
        request_id = body.get("request_id", "")
    except (ValueError, KeyError, TypeError):
        code, message, request_id = "http_error", f"HTTP {response.status_code}", ""
    exc = ERRORS.get(code, ServiceError)(message)
    exc.status = response.status_code  # type: ignore[attr-defined]
    exc.code = code
    exc.request_id = request_id  # type: ignore[attr-defined]
    exc.retry_after = response.headers.get("Retry-After")  # type: ignore[attr-defined]
    return exc


def _file(image: ImageSource, default: str) -> tuple[str, bytes | IO[bytes]]:
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return path.name, path.read_bytes()
    if isinstance(image, bytes):
        return default, image
    return Path(getattr(image, "name", default)).name, image


class Client:
    """The faceprint API at ``base_url``, authenticated with ``api_key`` (Bearer header).

    Args:
        base_url: e.g. ``"http://127.0.0.1:8000"``.
        api_key: a key from ``faceprint keys add`` (``None`` for a keyless loopback server).
        timeout: seconds per request.
        transport: an httpx transport (tests).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceError(f"{self._http.base_url}: cannot reach the service ({exc})") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _json(self, result: type[M], method: str, path: str, **kwargs: Any) -> M:
        """The response, validated by the model derived from the ``result`` dataclass."""
        return _parse(result, self._send(method, path, **kwargs).json())

    # --- service ----------------------------------------------------------------------------
    def health(self) -> schemas.HealthOut:
        return self._json(schemas.HealthOut, "GET", "/v1/health")

    def models(self) -> schemas.ModelsOut:
        return self._json(schemas.ModelsOut, "GET", "/v1/models")

    # --- analysis ---------------------------------------------------------------------------
    def detect(self, image: ImageSource) -> schemas.DetectOut:
        """Every face: box, score, landmarks."""
        return self._json(
            schemas.DetectOut, "POST", "/v1/detect", files={"image": _file(image, "image")}
        )

    def embed(self, image: ImageSource) -> schemas.EmbedOut:
        """Every face with its embedding."""
        return self._json(
            schemas.EmbedOut, "POST", "/v1/embed", files={"image": _file(image, "image")}
        )

    def verify(
        self,
        image_a: ImageSource,
        image_b: ImageSource | None = None,
        *,
        person_id: int | None = None,
    ) -> schemas.VerifyOut:
        """Same person? Two images, or an image and the enrolled person ``person_id``."""
        files = {"image_a": _file(image_a, "image_a")}
        if image_b is not None:
            files["image_b"] = _file(image_b, "image_b")
        data = {} if person_id is None else {"person_id": str(int(person_id))}
        return self._json(schemas.VerifyOut, "POST", "/v1/verify", files=files, data=data)

    def identify(
        self, image: ImageSource, *, top_k: int = 3, threshold: float | None = None
    ) -> schemas.IdentifyOut:
        """Name every face of the image (``unknown`` below the threshold)."""
        data: dict[str, str] = {"top_k": str(top_k)}
        if threshold is not None:
            data["threshold"] = repr(float(threshold))
        return self._json(
            schemas.IdentifyOut,
            "POST",
            "/v1/identify",
            files={"image": _file(image, "image")},
            data=data,
        )

    def search(self, image: ImageSource, *, top_k: int = 5) -> schemas.SearchOut:
        """The enrolled people each face resembles most."""
        return self._json(
            schemas.SearchOut,
            "POST",
            "/v1/search",
            files={"image": _file(image, "image")},
            data={"top_k": str(top_k)},
        )

    def resemble(
        self,
        child: ImageSource,
        relatives: Sequence[ImageSource],
        *,
        names: Sequence[str] | None = None,
        margin: float | None = None,
    ) -> schemas.ResembleOut:
        """Which relative the child's face resembles most (calibrated; may be undecided)."""
        files = [("child", _file(child, "child"))]
        files += [("relatives", _file(r, f"relative{i}")) for i, r in enumerate(relatives)]
        data: dict[str, str] = {}
        if names is not None:
            data["names"] = ",".join(names)
        if margin is not None:
            data["margin"] = repr(float(margin))
        return self._json(schemas.ResembleOut, "POST", "/v1/resemble", files=files, data=data)

    # --- videos and jobs ----------------------------------------------------------------------
    def screentime(
        self,
        video: str | os.PathLike[str],
        *,
        every: int | str = "auto",
        cast: str = "gallery",
        wait: bool = True,
        poll: float = 1.0,
        timeout: float = 3600.0,
    ) -> schemas.JobOut:
        """Upload a video for screen time per person; with ``wait``, poll until its job ends
        (the job's ``result`` is the screen-time JSON)."""
        path = Path(video)
        files = {"video": (path.name, path.read_bytes())}
        data = {"every": str(every), "cast": cast}
        job = _parse(
            schemas.JobOut, self._send("POST", "/v1/videos", files=files, data=data).json()["job"]
        )
        return self.wait(job.id, poll=poll, timeout=timeout) if wait else job

    def job(self, job_id: str) -> schemas.JobOut:
        return self._json(schemas.JobOut, "GET", f"/v1/jobs/{_seg(job_id)}")

    def jobs(self) -> list[schemas.JobOut]:
        return self._json(schemas.JobsOut, "GET", "/v1/jobs").jobs

    def cancel(self, job_id: str) -> None:
        self._send("DELETE", f"/v1/jobs/{_seg(job_id)}")

    def wait(self, job_id: str, *, poll: float = 1.0, timeout: float = 3600.0) -> schemas.JobOut:
        """The job once it is done, failed or cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.status not in ("queued", "running"):
                return job
            if time.monotonic() > deadline:
                raise ServiceError(f"job {job_id} still {job.status} after {timeout} s")
            time.sleep(poll)

    # --- people (addressed by id; names are data) ------------------------------------------
    def people(
        self, query: str = "", *, limit: int | None = None, offset: int = 0
    ) -> list[schemas.PersonSummary]:
        """The people whose name contains ``query`` (any case), sorted by name: every one of
        them from ``offset`` on (fetched page by page), or at most ``limit``."""
        out: list[schemas.PersonSummary] = []
        while limit is None or len(out) < limit:
            want = MAX_PEOPLE_PAGE if limit is None else min(MAX_PEOPLE_PAGE, limit - len(out))
            page = self.people_page(query, limit=want, offset=offset + len(out))
            out.extend(page.people)
            if len(page.people) < want or offset + len(out) >= page.total:
                break
        return out

    def people_page(
        self, query: str = "", *, limit: int = 50, offset: int = 0
    ) -> schemas.PeopleOut:
        """One page of people sorted by name, with the number of matches in all (``total``)."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if query:
            params["q"] = query
        return self._json(schemas.PeopleOut, "GET", "/v1/people", params=params)

    def person(self, person_id: int) -> schemas.PersonOut:
        """One person (by id) with their templates."""
        return self._json(schemas.PersonOut, "GET", f"/v1/people/{int(person_id)}")

    def find_person(self, name: str) -> schemas.PersonOut:
        """The person called exactly ``name`` (:class:`IdentityNotFoundError` when none)."""
        return self._json(schemas.PersonOut, "GET", "/v1/people/by-name", params={"name": name})

    def enroll(
        self, name: str, images: Sequence[ImageSource], *, face: str = "largest"
    ) -> schemas.EnrollOut:
        """Enrol a new person ``name`` from images (:class:`IdentityExistsError` when the name
        is taken: add images to that person with :meth:`add_templates`)."""
        files = [("images", _file(img, f"image{i}")) for i, img in enumerate(images)]
        return self._json(
            schemas.EnrollOut, "POST", "/v1/people", files=files, data={"name": name, "face": face}
        )

    def add_templates(
        self, person_id: int, images: Sequence[ImageSource], *, face: str = "largest"
    ) -> schemas.TemplatesOut:
        """Add face templates to the enrolled person ``person_id``."""
        files = [("images", _file(img, f"image{i}")) for i, img in enumerate(images)]
        return self._json(
            schemas.TemplatesOut,
            "POST",
            f"/v1/people/{int(person_id)}/templates",
            files=files,
            data={"face": face},
        )

    def rename(self, person_id: int, new: str) -> schemas.PersonOut:
        return self._json(
            schemas.PersonOut, "PATCH", f"/v1/people/{int(person_id)}", json={"name": new}
        )

    def remove(self, person_id: int) -> None:
        """Delete a person and every trace of their templates."""
        self._send("DELETE", f"/v1/people/{int(person_id)}")

    def remove_template(self, person_id: int, template_id: int) -> None:
        self._send("DELETE", f"/v1/people/{int(person_id)}/templates/{int(template_id)}")

    def thumbnail(self, template_id: int) -> bytes:
        """JPEG bytes of a template's aligned crop."""
        return self._send("GET", f"/v1/thumbnails/{int(template_id)}").content

    # --- gallery ----------------------------------------------------------------------------
    def export(self, path: str | os.PathLike[str]) -> Path:
        """Download the gallery export to ``path``."""
        target = Path(path)
        target.write_bytes(self._send("GET", "/v1/gallery/export").content)
        return target

    def import_(self, path: str | os.PathLike[str], *, append: bool = False) -> int:
        """Upload an export; returns the number of templates added."""
        files = {"archive": (Path(path).name, Path(path).read_bytes(), "application/zip")}
        data = {"append": "true" if append else "false"}
        return self._json(
            schemas.ImportOut, "POST", "/v1/gallery/import", files=files, data=data
        ).imported


def _seg(name: str) -> str:
    """A name as one URL path segment."""
    return quote(name, safe="")
