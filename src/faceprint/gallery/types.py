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


@dataclass(frozen=True)
class Identity:
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
    template_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "metadata": dict(self.metadata),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "templates": self.template_count,
        }


@dataclass(frozen=True)
class PersonSummary:
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
class PeoplePage:
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
class Template:
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
    box: tuple[float, float, float, float] | None
    pack: str
    created_at: str
    has_thumbnail: bool

    def to_dict(self) -> dict[str, Any]:
        box = None if self.box is None else [round(v, 2) for v in self.box]
        return {
            "id": self.id,
            "identity_id": self.identity_id,
            "source": self.source,
            "box": box,
            "pack": self.pack,
            "created_at": self.created_at,
            "has_thumbnail": self.has_thumbnail,
        }


@dataclass(frozen=True)
class Match:
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
    similarity: float
    template_id: int
    thumbnail: bytes | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity_id": self.identity_id,
            "name": self.name,
            "similarity": round(self.similarity, 6),
            "template_id": self.template_id,
        }


@dataclass(frozen=True)
class IdentifiedFace:
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

    face: Face | None
    name: str | None
    similarity: float
    threshold: float
    matches: tuple[Match, ...]

    @property
    def known(self) -> bool:
        """The face was recognised as an enrolled identity."""
        return self.name is not None

    @property
    def label(self) -> str:
        """The name, or ``"unknown"``."""
        return UNKNOWN if self.name is None else self.name

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.face is not None:
            out["box"] = [round(float(v), 2) for v in self.face.box]
        sim = self.similarity if self.similarity != float("-inf") else None
        out.update(
            name=self.label,
            known=self.known,
            similarity=None if sim is None else round(sim, 6),
            threshold=self.threshold,
            matches=[m.to_dict() for m in self.matches],
        )
        return out


@dataclass(frozen=True)
class FileOutcome:
    """What enrolling one file did.

    Attributes:
        path: the file.
        name: the identity it was (or would have been) enrolled under.
        status: ``"enrolled"`` or why it was skipped: ``"no_face"``, ``"ambiguous"`` (several
            faces of similar size), ``"unreadable"``, ``"exists"`` (the identity exists and
            appending was not asked for) or ``"duplicate"`` (this file is enrolled already).
        reason: a human sentence for skipped files ("" when enrolled).
        template_id: the new template's id when enrolled.
    """

    path: Path
    name: str
    status: FileStatus
    reason: str = ""
    template_id: int | None = None

    @property
    def enrolled(self) -> bool:
        return self.status == "enrolled"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the path as valid Unicode: undecodable bytes become ``\\xNN``)."""
        return {
            "file": printable(self.path),
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "template_id": self.template_id,
        }


@dataclass(frozen=True)
class EnrollReport:
    """Per-file outcomes of a folder enrolment, in processing order."""

    outcomes: tuple[FileOutcome, ...]

    @property
    def enrolled(self) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if o.enrolled)

    @property
    def skipped(self) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.enrolled)

    def counts(self) -> dict[str, int]:
        """Number of files per status."""
        return dict(Counter(o.status for o in self.outcomes))

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts(), "files": [o.to_dict() for o in self.outcomes]}


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
