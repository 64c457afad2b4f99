"""Labeled Faces in the Wild: protocol files and the View 2 pair-matching protocol.

``pairs.txt`` (View 2) starts with ``SETS PAIRS`` (``10 300``) and then, for each set, ``PAIRS``
matched lines ``name n1 n2`` followed by ``PAIRS`` mismatched lines ``name1 n1 name2 n2``.
``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (View 1) start with one number, ``PAIRS``, and hold
one such set. Image ``n`` of ``name`` is ``name/name_NNNN.jpg`` under the image folder.

Every pair is scored. An image in which no face is found (after the configured fallbacks) has no
embedding; a pair with such an image gets the lowest possible score, -1, so it is decided
"different people" at any threshold — a rejected genuine pair counts as an error, a rejected
impostor pair as correct — and the number of such pairs is reported.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceprint._json import JsonResult, json_options
from faceprint.errors import EvaluationError
from faceprint.evaluate.cache import EmbeddingCache
from faceprint.evaluate.extract import (
    ExtractionConfig,
    ExtractionSummary,
    ImageEmbeddings,
    Progress,
    embed_images,
)
from faceprint.evaluate.fallback import Fallback, applicable_fallbacks
from faceprint.evaluate.identification import IdentificationResult, evaluate_identification
from faceprint.evaluate.metrics import (
    AllPairsResult,
    KFoldResult,
    TarAtFar,
    accuracy_at,
    all_pairs_scores,
    best_threshold,
    equal_error_rate,
    kfold_accuracy,
    roc_auc,
    split_scores,
    tar_at_far,
)
from faceprint.imageio import printable
from faceprint.packs import DEFAULT_PACK, get_pack

__all__ = [
    "IMAGE_FOLDERS",
    "LFW_FALLBACKS",
    "LfwLayout",
    "LfwReport",
    "Pair",
    "PairsResult",
    "Protocol",
    "calibrate_on_pairs",
    "check_images",
    "evaluate_lfw",
    "find_lfw",
    "lfw_config",
    "lfw_identities",
    "pair_scores",
    "read_pairs",
    "save_embeddings",
    "score_protocol",
]

#: image folders looked for inside an LFW folder, in this order
IMAGE_FOLDERS = ("images_deepfunneled", "lfw-deepfunneled", "lfw_funneled", "lfw", "images")
_NAME = re.compile(r"^[^\s/\\]+$")
#: fallbacks of the LFW evaluation: real detectors first, the centre box as a last resort
LFW_FALLBACKS: tuple[Fallback, ...] = ("upsample2", "cnn", "center-box")
#: score given to a pair with an image without a face
NO_FACE_SCORE = -1.0


@dataclass(frozen=True)
class Pair:
    """One protocol pair: two image paths relative to the image folder, same person?, fold."""

    a: str
    b: str
    same: bool
    fold: int


@dataclass(frozen=True)
class Protocol:
    """A parsed pairs file: its pairs in file order, ``folds`` sets of ``per_fold`` + ``per_fold``."""

    path: Path
    pairs: tuple[Pair, ...]
    folds: int
    per_fold: int

    @property
    def files(self) -> list[str]:
        """The distinct images the pairs use (relative paths, sorted)."""
        return sorted({p.a for p in self.pairs} | {p.b for p in self.pairs})


def _image(name: str, number: str, where: str) -> str:
    if not _NAME.match(name):
        raise EvaluationError(f"{where}: bad person name {name!r}")
    try:
        n = int(number)
    except ValueError:
        raise EvaluationError(f"{where}: image number {number!r} is not an integer") from None
    if n < 1:
        raise EvaluationError(f"{where}: image number must be >= 1, got {n}")
    return f"{name}/{name}_{n:04d}.jpg"


def _header(line: str, path: Path) -> tuple[int, int]:
    parts = line.split()
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 2 and min(numbers) > 0:
        return numbers[0], numbers[1]
    if len(numbers) == 1 and numbers[0] > 0:
        return 1, numbers[0]
    raise EvaluationError(
        f"{path}:1: expected a header 'SETS PAIRS' (e.g. '10 300') or 'PAIRS', got {line!r}"
    )


def _pair(fields: list[str], same: bool, fold: int, where: str) -> Pair:
    if same:
        if len(fields) != 3:
            raise EvaluationError(f"{where}: a matched pair needs 'name n1 n2', got {fields}")
        a, b = _image(fields[0], fields[1], where), _image(fields[0], fields[2], where)
    else:
        if len(fields) != 4:
            raise EvaluationError(
                f"{where}: a mismatched pair needs 'name1 n1 name2 n2', got {fields}"
            )
        if fields[0] == fields[2]:
            raise EvaluationError(f"{where}: a mismatched pair names the same person twice")
        a, b = _image(fields[0], fields[1], where), _image(fields[2], fields[3], where)
    return Pair(a, b, same, fold)


def read_pairs(path: str | Path) -> Protocol:
    """Parse an LFW pairs file (View 2 ``pairs.txt`` or a View 1 file).

    Raises:
        EvaluationError: unreadable file, bad header, wrong number of lines, or a malformed
            line (the message gives the line number).
    """
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"cannot read pairs file {path}: {exc}") from exc
    if not lines:
        raise EvaluationError(f"{path}: empty pairs file")
    folds, per_fold = _header(lines[0], path)
    expected = 1 + folds * 2 * per_fold
    if len(lines) != expected:
        raise EvaluationError(
            f"{path}: header says {folds} set(s) of {per_fold} matched + {per_fold} mismatched "
            f"pairs ({expected - 1} lines), but the file has {len(lines) - 1} pair lines"
        )
    pairs = []
    for i, line in enumerate(lines[1:]):
        fold, within = divmod(i, 2 * per_fold)
        pairs.append(_pair(line.split(), within < per_fold, fold, f"{path}:{i + 2}"))
    return Protocol(path, tuple(pairs), folds, per_fold)


@dataclass(frozen=True)
class LfwLayout:
    """Where an LFW copy keeps its images and protocol files."""

    root: Path
    images: Path

    def protocol_file(self, name: str) -> Path:
        """``name`` (e.g. ``pairs.txt``) in the LFW folder; a clear error when missing."""
        path = Path(name) if Path(name).is_absolute() else self.root / name
        if not path.is_file():
            raise EvaluationError(f"LFW protocol file not found: {path}")
        return path


def _has_person_folders(path: Path) -> bool:
    return any(p.is_dir() for p in path.iterdir())


def find_lfw(data: str | Path) -> LfwLayout:
    """The LFW layout of ``data``: an LFW folder with its pairs files (``pairs*.txt``) and an
    image folder (one of :data:`IMAGE_FOLDERS`), or the image folder itself with ``pairs.txt``
    in its parent.

    Raises:
        EvaluationError: nothing LFW-like found (the message says what was looked for).
    """
    data = Path(data)
    if not data.is_dir():
        raise EvaluationError(f"LFW folder not found: {data}")
    has_pairs = any(data.glob("pairs*.txt"))
    for name in IMAGE_FOLDERS:
        if has_pairs and (data / name).is_dir():
            return LfwLayout(data, data / name)
    if (data.parent / "pairs.txt").is_file() and _has_person_folders(data):
        return LfwLayout(data.parent, data)
    raise EvaluationError(
        f"{data} is not an LFW folder: expected pairs.txt and an image folder "
        f"({', '.join(IMAGE_FOLDERS)}) in it, or person folders with pairs.txt next to it"
    )


def lfw_identities(images: Path) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Every image of an LFW image folder (relative paths, sorted) and its person's number.

    Raises:
        EvaluationError: no image, or entries named like images that are not readable files
            (a dangling link, a folder): the message names them, before any work is done.
    """
    found = sorted(p for p in images.glob("*/*") if p.suffix.lower() == ".jpg")
    broken = [printable(p.relative_to(images)) for p in found if not _regular_file(p)]
    if broken:
        more = f" and {len(broken) - 3} more" if len(broken) > 3 else ""
        raise EvaluationError(
            f"{printable(images)}: {len(broken)} image(s) cannot be read (missing targets of "
            f"links, folders, devices): {', '.join(broken[:3])}{more}"
        )
    files = [str(p.relative_to(images)) for p in found]
    if not files:
        raise EvaluationError(f"no LFW images (NAME/NAME_NNNN.jpg) in {images}")
    names = [f.split("/", 1)[0] for f in files]
    _, labels = np.unique(names, return_inverse=True)
    return files, labels.astype(np.int64)


def pair_scores(
    protocol: Protocol, images: ImageEmbeddings, root: Path
) -> tuple[npt.NDArray[np.float64], int]:
    """Cosine score of every pair, and how many pairs had an image without a face (scored -1)."""
    row = {f: i for i, f in enumerate(images.files)}
    has = images.has_face
    scores = np.empty(len(protocol.pairs))
    missing = 0
    for k, p in enumerate(protocol.pairs):
        ia, ib = row[str(root / p.a)], row[str(root / p.b)]
        if has[ia] and has[ib]:
            scores[k] = float(images.embeddings[ia] @ images.embeddings[ib])
        else:
            scores[k], missing = NO_FACE_SCORE, missing + 1
    return scores, missing


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:  # a dangling link, a name too long, no permission to look
        return False


def check_images(protocol: Protocol, images: Path) -> list[str]:
    """Absolute paths of the protocol's images; an error naming the first few missing ones."""
    files = protocol.files
    missing = [f for f in files if not _regular_file(images / f)]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise EvaluationError(
            f"{protocol.path}: {len(missing)} image(s) missing under {images}: "
            f"{', '.join(missing[:3])}{more}"
        )
    return [str(images / f) for f in files]


@dataclass(frozen=True)
class PairsResult(JsonResult):
    """Verification on a pairs protocol.

    Attributes:
        protocol: the pairs file.
        pairs / genuine / impostors: pair counts.
        no_face_pairs: pairs with an image where no face was found (scored -1, see module doc).
        kfold: k-fold accuracy (``None`` for a one-set file such as View 1's).
        auc / eer / eer_threshold: over all pairs pooled.
        tar_at_far: TAR at each target FAR, over all pairs pooled.
        fixed_threshold / fixed_accuracy: accuracy over all pairs at one given threshold
            (the pack's, or one chosen on other pairs), or ``None``.
        extraction: how the images were handled.
        scores / labels: per-pair cosine scores and same-person flags, in file order.
    """

    protocol: str
    pairs: int
    genuine: int
    impostors: int
    no_face_pairs: int
    kfold: KFoldResult | None
    auc: float
    eer: float
    eer_threshold: float
    tar_at_far: tuple[TarAtFar, ...]
    fixed_threshold: float | None
    fixed_accuracy: float | None
    extraction: ExtractionSummary
    scores: npt.NDArray[np.float64] = field(metadata=json_options(json=False))
    labels: npt.NDArray[np.bool_] = field(metadata=json_options(json=False))


def score_protocol(
    protocol: Protocol,
    images: ImageEmbeddings,
    root: Path,
    *,
    fars: tuple[float, ...] = (1e-2, 1e-3),
    threshold: float | None = None,
) -> PairsResult:
    """Every metric of a pairs protocol from embeddings of its images (under ``root``)."""
    scores, missing = pair_scores(protocol, images, root)
    labels = np.array([p.same for p in protocol.pairs])
    folds = np.array([p.fold for p in protocol.pairs])
    genuine, impostor = split_scores(scores, labels)
    eer, eer_t = equal_error_rate(scores, labels)
    return PairsResult(
        protocol=str(protocol.path),
        pairs=len(scores),
        genuine=len(genuine),
        impostors=len(impostor),
        no_face_pairs=missing,
        kfold=kfold_accuracy(scores, labels, folds) if protocol.folds > 1 else None,
        auc=roc_auc(scores, labels),
        eer=eer,
        eer_threshold=eer_t,
        tar_at_far=tuple(tar_at_far(genuine, impostor, f) for f in fars),
        fixed_threshold=threshold,
        fixed_accuracy=None if threshold is None else accuracy_at(scores, labels, threshold),
        extraction=images.summary,
        scores=scores,
        labels=labels,
    )


def calibrate_on_pairs(result: PairsResult) -> tuple[float, float]:
    """(threshold with the best accuracy on these pairs, that accuracy): View 1 calibration."""
    return best_threshold(result.scores, result.labels)


@dataclass(frozen=True)
class LfwReport(JsonResult):
    """Everything ``faceprint evaluate lfw`` measures.

    Attributes:
        pack: the model pack evaluated.
        images: LFW image folder.
        config: how images became embeddings (face choice, fallbacks, ...).
        test: the pairs protocol (View 2 by default).
        train: the pairs the threshold was chosen on (``--train-pairs``), or ``None``.
        calibrated_threshold / train_accuracy: best-accuracy threshold on ``train`` and its
            accuracy there (``None`` without ``train``); ``test.fixed_accuracy`` is measured at it.
        all_pairs: all-pairs verification over every image, or ``None``.
        identification: rank-1/5, open-set and distractor results, or ``None``.
        all_images: extraction summary of every LFW image (``None`` unless all-pairs or
            identification ran).
        embeddings: the embedding of every image used (see :func:`save_embeddings`).
    """

    pack: str
    images: str
    config: ExtractionConfig
    test: PairsResult
    train: PairsResult | None
    calibrated_threshold: float | None
    train_accuracy: float | None
    all_pairs: AllPairsResult | None
    identification: IdentificationResult | None
    all_images: ExtractionSummary | None
    embeddings: ImageEmbeddings = field(metadata=json_options(json=False))


def lfw_config(pack: str = DEFAULT_PACK, **options: Any) -> ExtractionConfig:
    """The LFW evaluation's extraction: the "subject" face and those of :data:`LFW_FALLBACKS`
    that can run with ``pack``; ``options`` override :class:`ExtractionConfig` fields."""
    fallbacks = applicable_fallbacks(get_pack(pack), LFW_FALLBACKS)
    return ExtractionConfig(**{"pack": pack, "face": "subject", "fallbacks": fallbacks, **options})


def evaluate_lfw(
    data: str | Path,
    config: ExtractionConfig | None = None,
    *,
    pairs: str = "pairs.txt",
    train_pairs: str | None = None,
    threshold: float | None = None,
    fars: tuple[float, ...] = (1e-2, 1e-3),
    all_pairs: bool = False,
    all_pairs_fars: tuple[float, ...] = (1e-4, 1e-5, 1e-6),
    identification: bool = False,
    cache: EmbeddingCache | None = None,
    progress: Progress | None = None,
) -> LfwReport:
    """Run the LFW protocols on the copy in ``data`` (see :func:`find_lfw`).

    Args:
        config: pack, face choice and fallbacks (default :func:`lfw_config`: the default pack,
            the "subject" face, fallbacks upsample2 → cnn → center-box, so every pair is scored).
        pairs: the protocol scored (``pairs.txt``: View 2, 10-fold).
        train_pairs: pairs to choose the threshold on (e.g. ``pairsDevTrain.txt``); the test
            pairs are then also scored at that fixed threshold.
        threshold: fixed threshold to score the test pairs at when there is no ``train_pairs``
            (default: the pack's).
        fars: TAR is reported at these FARs on the test pairs.
        all_pairs / all_pairs_fars: also score all pairs of every image at these FARs.
        identification: also run the identification protocols on every image.
    """
    config = config or lfw_config()
    layout = find_lfw(data)
    test_proto = read_pairs(layout.protocol_file(pairs))
    train_proto = read_pairs(layout.protocol_file(train_pairs)) if train_pairs else None
    files = check_images(test_proto, layout.images)
    if train_proto is not None:
        files = sorted(set(files) | set(check_images(train_proto, layout.images)))
    everything, labels = (
        lfw_identities(layout.images)
        if all_pairs or identification
        else ([], np.zeros(0, np.int64))
    )
    if everything:
        files = [str(layout.images / f) for f in everything]
    emb = embed_images(files, config, cache=cache, progress=progress)
    pack = config.pack_spec()
    train, cal_t, cal_acc = None, None, None
    if train_proto is not None:
        train = score_protocol(train_proto, emb, layout.images, fars=fars)
        cal_t, cal_acc = calibrate_on_pairs(train)
    default_t = pack.threshold_for(config.augment)
    fixed = cal_t if cal_t is not None else (default_t if threshold is None else threshold)
    test = score_protocol(test_proto, emb, layout.images, fars=fars, threshold=fixed)
    has = emb.has_face
    return LfwReport(
        pack=pack.name,
        images=str(layout.images),
        config=config,
        test=test,
        train=train,
        calibrated_threshold=cal_t,
        train_accuracy=cal_acc,
        all_pairs=(
            all_pairs_scores(emb.embeddings, labels, all_pairs_fars, valid=has)
            if all_pairs
            else None
        ),
        identification=(
            evaluate_identification(emb.embeddings, labels, valid=has) if identification else None
        ),
        all_images=emb.summary if everything else None,
        embeddings=emb,
    )


def save_embeddings(path: str | Path, images: ImageEmbeddings, root: str | Path) -> Path:
    """Write ``images`` to an ``.npz``: ``embeddings`` (N, D) float32, ``labels`` (N,) int64
    (person number, by sorted name), ``files`` (N,) paths relative to ``root``, ``sources`` (N,)
    (where each face came from: detector, a fallback, or "" for none)."""
    files = [str(Path(f).relative_to(root)) for f in images.files]
    _, labels = np.unique([f.split("/", 1)[0] for f in files], return_inverse=True)
    path = Path(path)
    try:
        np.savez(
            path,
            embeddings=images.embeddings.astype(np.float32),
            labels=labels.astype(np.int64),
            files=np.asarray(files, dtype=str),
            sources=np.asarray(images.sources, dtype=str),
        )
    except OSError as exc:
        raise EvaluationError(f"cannot write {path}: {exc}") from exc
    return path
