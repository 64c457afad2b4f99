"""Person names: the one validator every surface uses (library, CLI, HTTP, web app).

A name is printable text, stored as given apart from surrounding spaces and Unicode NFC
normalisation: not empty, at most :data:`MAX_NAME_LENGTH` characters, without control
characters (tabs, newlines, escape sequences), lone surrogates (a folder name that is not valid
UTF-8), private-use or unassigned code points, line separators or bidirectional overrides (which
make a name display as another). Anything else — quotes, brackets, markup, SQL, any script,
emoji with joiners — is data and kept verbatim. The names faceprint's outputs give to faces
nobody is enrolled as (``unknown``, ``unknown_1``, ``unknown_2``, … in any letter case) are
reserved.
"""

from __future__ import annotations

import re
import unicodedata

from faceprint.errors import InvalidArgumentError

__all__ = ["MAX_NAME_LENGTH", "UNKNOWN", "clean_name", "is_reserved"]

#: the longest name accepted, in characters (after stripping)
MAX_NAME_LENGTH = 200
#: the label of a face below the threshold; video screen time numbers them ``unknown_N``
UNKNOWN = "unknown"

_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
#: bidirectional marks, embeddings, overrides and isolates (category Cf, unlike the joiners
#: that emoji sequences need)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_RESERVED = re.compile(r"unknown(_[0-9]+)?", re.IGNORECASE)


def is_reserved(name: str) -> bool:
    """Whether ``name`` is one faceprint's outputs use for faces nobody is enrolled as."""
    return _RESERVED.fullmatch(name.strip()) is not None


def clean_name(name: object) -> str:
    """``name`` as stored (stripped, NFC), or :class:`InvalidArgumentError` saying why not."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(
            f"a name must be a non-empty string (it must not be empty), got {_shown(name)}"
        )
    text = unicodedata.normalize("NFC", name.strip())
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(
            f"a name has at most {MAX_NAME_LENGTH} characters, got {len(text)} "
            f"({_shown(text[:40])}...)"
        )
    bad = sorted({c for c in text if c in _BIDI or unicodedata.category(c) in _BAD_CATEGORIES})
    if bad:
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        raise InvalidArgumentError(
            f"the name {_shown(text)} holds control, format or bidirectional-override "
            f"characters ({codes}; a folder "
            "name that is not UTF-8 gives U+DCxx); use printable text"
        )
    if is_reserved(text):
        raise InvalidArgumentError(
            f"the name {_shown(text)} is reserved: faceprint labels faces nobody is enrolled as "
            "unknown and unknown_N; choose another name"
        )
    return text


def _shown(value: object) -> str:
    """``value`` quoted on one line of valid text: control characters and separators escaped."""
    if not isinstance(value, str):
        return repr(value)
    return "'" + "".join(_escaped(c) for c in value) + "'"


def _escaped(c: str) -> str:
    """``c``, or its escape where it would not print as itself; a byte of a file name that is
    not UTF-8 (U+DC80..U+DCFF) shows as that byte (``\xe9``)."""
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if c in _BIDI or unicodedata.category(c) in _BAD_CATEGORIES or c == "\\":
        return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"
    return c
