"""Accuracy evaluation and threshold calibration.

* :mod:`~faceprint.evaluate.metrics` – k-fold accuracy, ROC/AUC, EER, exact TAR at FAR, and
  blockwise all-pairs scoring (pure functions on scores and labels);
* :mod:`~faceprint.evaluate.lfw` – LFW's protocol files and the View 2 protocol;
* :mod:`~faceprint.evaluate.identification` – rank-1/5, open-set FNIR at FPIR, distractors;
* :mod:`~faceprint.evaluate.calibrate` – a threshold at a target FAR on the user's own folders;
* :mod:`~faceprint.evaluate.extract` and :mod:`~faceprint.evaluate.cache` – one embedding per
  image on every core, through an on-disk cache of detections and embeddings;
* :mod:`~faceprint.evaluate.plots` – ROC and score histograms (matplotlib).

>>> from faceprint.evaluate import evaluate_lfw
>>> report = evaluate_lfw("../shared/data/lfw")              # doctest: +SKIP
>>> report.test.kfold.mean                                   # doctest: +SKIP
"""

from faceprint.evaluate.cache import EmbeddingCache
from faceprint.evaluate.calibrate import CalibrationResult, calibrate_embeddings, calibrate_folders
from faceprint.evaluate.extract import (
    ExtractionConfig,
    ExtractionSummary,
    ImageEmbeddings,
    embed_images,
)
from faceprint.evaluate.identification import IdentificationResult, evaluate_identification
from faceprint.evaluate.lfw import LfwReport, PairsResult, evaluate_lfw, read_pairs
from faceprint.evaluate.metrics import (
    AllPairsResult,
    KFoldResult,
    RocCurve,
    TarAtFar,
    all_pairs_scores,
    equal_error_rate,
    kfold_accuracy,
    roc_auc,
    roc_curve,
    tar_at_far,
)
from faceprint.evaluate.plots import plot_verification

__all__ = [
    "AllPairsResult",
    "CalibrationResult",
    "EmbeddingCache",
    "ExtractionConfig",
    "ExtractionSummary",
    "IdentificationResult",
    "ImageEmbeddings",
    "KFoldResult",
    "LfwReport",
    "PairsResult",
    "RocCurve",
    "TarAtFar",
    "all_pairs_scores",
    "calibrate_embeddings",
    "calibrate_folders",
    "embed_images",
    "equal_error_rate",
    "evaluate_identification",
    "evaluate_lfw",
    "kfold_accuracy",
    "plot_verification",
    "read_pairs",
    "roc_auc",
    "roc_curve",
    "tar_at_far",
]
