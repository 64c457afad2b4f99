"""Result records of the gallery: identities, templates, matches and enrolment outcomes.

Similarities are cosine similarities of unit embeddings, in [-1, 1]. Boxes are ``x1, y1, x2, y2``
in pixels of the image a template was enrolled from. Times are ISO-8601 UTC strings.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from faceprint._json import JsonResult, computed, json_options
from faceprint.errors import InvalidArgumentError
from faceprint.imageio import printable
from faceprint.types import Face

__all__ = [
    "EnrollReport",
    "FileOutcome",
    "FileStatus",
    "IdentifiedFace",
    "Identity",
    "Match",
    "PeoplePage",
    "PersonSummary",
    "Template",
]

#: what happened to one file of a folder enrolment
FileStatus = Literal["enrolled", "no_face", "ambiguous", "unreadable", "exists", "duplicate"]

UNKNOWN = "unknown"


def _label(name: str | None) -> str:
    return UNKNOWN if name is None else name


def _finite(value: float) -> float | None:
    return None if value == float("-inf") else value


@dataclass(frozen=True)
class Identity(JsonResult):
    """One enrolled person.

    Attributes:
        id: database id (stable for the identity's lifetime, never reused).
        name: display name, unique in the gallery.
        metadata: free JSON object given at enrolment or by :meth:`Gallery.set_metadata`.
        created_at / updated_at: ISO-8601 UTC times.
        template_count: number of face templates enrolled for this identity.
    """

    id: int
    name: str
    metadata: Mapping[str, Any]
    created_at: str
    updated_at: str
    template_count: int = field(metadata=json_options(name="templates"))


@dataclass(frozen=True)
class PersonSummary(JsonResult):
    """One person of a page of people (:meth:`Gallery.people`).

    Attributes:
        id / name / created_at / template_count: as in :class:`Identity`.
        thumbnail_template: id of the person's oldest template that has a thumbnail, or
            ``None`` (:meth:`Gallery.thumbnail`).
    """

    id: int
    name: str
    created_at: str
    template_count: int
    thumbnail_template: int | None


@dataclass(frozen=True)
class PeoplePage(JsonResult):
    """A page of people sorted by name (:meth:`Gallery.people`).

    Attributes:
        people: at most ``limit`` people, from the ``offset``-th match on.
        total: how many people match the query in all.
        offset / limit: the page asked for.
    """

    people: tuple[PersonSummary, ...]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class Template(JsonResult):
    """One enrolled face of an identity (the embedding itself stays in the store).

    Attributes:
        id: database id, also the id of the template's vector in the index.
        identity_id: owner identity.
        source: file name the face was enrolled from ("" when unknown).
        box: ``x1, y1, x2, y2`` in pixels of the source image, or ``None``.
        pack: model pack that made the embedding.
        created_at: ISO-8601 UTC time.
        has_thumbnail: a JPEG of the aligned crop is stored (see :meth:`Gallery.thumbnail`).
    """

    id: int
    identity_id: int
    source: str
    box: tuple[float, float, float, float] | None = field(
        metadata=json_options(digits=2, schema=list[float] | None)
    )
    pack: str
    created_at: str
    has_thumbnail: bool


@dataclass(frozen=True)
class Match(JsonResult):
    """An identity near a query face.

    Attributes:
        identity_id / name: the identity.
        similarity: the identity's score: the maximum (or mean) cosine similarity over its
            templates, as the query asked.
        template_id: the identity's best-scoring template (with ``aggregate="mean"``: its
            first template); its thumbnail illustrates the match.
        thumbnail: JPEG bytes of that template's aligned crop when asked for, else ``None``.
    """

    identity_id: int
    name: str
    similarity: float = field(metadata=json_options(digits=6))
    template_id: int
    thumbnail: bytes | None = field(default=None, repr=False, metadata=json_options(json=False))


@dataclass(frozen=True)
class IdentifiedFace(JsonResult):
    """The identification of one query face.

    Attributes:
        face: the query face (box, landmarks, embedding), or ``None`` when bare embeddings
            were identified.
        name: the best identity's name when its similarity reaches ``threshold``, else
            ``None`` (the face is unknown).
        similarity: the best identity's similarity (also when unknown; ``-inf`` for an empty
            gallery).
        threshold: the threshold the decision used.
        matches: the ``top_k`` nearest identities, best first, whatever the threshold.
    """

    face: Face | None = field(
        metadata=json_options(
            name="box", convert=lambda face: face.box, digits=2, omit_none=True, schema=list[float]
        )
    )
    name: str | None = field(metadata=json_options(convert=_label, schema=str))
    similarity: float = field(metadata=json_options(convert=_finite, digits=6, schema=float | None))
    threshold: float
    matches: tuple[Match, ...]

    json_computed = (computed("known"),)
    json_order = ("box", "name", "known", "similarity", "threshold", "matches")

    @property
    def known(self) -> bool:
        """The face was recognised as an enrolled identity."""
        return self.name is not None

    @property
    def label(self) -> str:
        """The name, or ``"unknown"``."""
        return UNKNOWN if self.name is None else self.name


@dataclass(frozen=True)
class FileOutcome(JsonResult):
    """What enrolling one file did.

    Attributes:
        path: the file (JSON: ``file``, as valid Unicode: undecodable bytes become ``\\xNN``).
        name: the identity it was (or would have been) enrolled under.
        status: ``"enrolled"`` or why it was skipped: ``"no_face"``, ``"ambiguous"`` (several
            faces of similar size), ``"unreadable"``, ``"exists"`` (the identity exists and
            appending was not asked for) or ``"duplicate"`` (this file is enrolled already).
        reason: a human sentence for skipped files ("" when enrolled).
        template_id: the new template's id when enrolled.
    """

    path: Path = field(metadata=json_options(name="file", convert=printable, schema=str))
    name: str
    status: FileStatus
    reason: str = ""
    template_id: int | None = None

    @property
    def enrolled(self) -> bool:
        return self.status == "enrolled"


@dataclass(frozen=True)
class EnrollReport(JsonResult):
    """Per-file outcomes of a folder enrolment, in processing order (JSON: ``counts`` per
    status, then ``files``)."""

    outcomes: tuple[FileOutcome, ...] = field(metadata=json_options(name="files"))

    json_computed = (computed("counts", schema=dict[str, int]),)
    json_order = ("counts", "files")

    @property
    def enrolled(self) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if o.enrolled)

    @property
    def skipped(self) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.enrolled)

    def counts(self) -> dict[str, int]:
        """Number of files per status."""
        return dict(Counter(o.status for o in self.outcomes))


def dump_metadata(metadata: Mapping[str, Any] | None) -> str:
    """Validate and serialise identity metadata (a JSON object)."""
    if metadata is None:
        return "{}"
    if not isinstance(metadata, Mapping):
        raise InvalidArgumentError(
            f"metadata must be a mapping (a JSON object), got {type(metadata).__name__}"
        )
    try:
        return json.dumps(dict(metadata), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"metadata must be JSON-serialisable: {exc}") from exc
