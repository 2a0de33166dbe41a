"""Stage `evaluate`: score models/model.pkl on the test split.

Writes reports/metrics.json (accuracy, macro F1, log loss), reports/confusion.csv (one
`actual,predicted` row per test sample) and reports/prc.json (a micro-averaged
precision-recall curve).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_recall_curve
from sklearn.preprocessing import label_binarize

ROOT = Path(__file__).resolve().parents[1]
FEATURES_DIR = ROOT / "data" / "features"
MODEL_PATH = ROOT / "models" / "model.pkl"
REPORTS_DIR = ROOT / "reports"
# Enough points to draw a smooth curve while keeping the file small enough to diff.
MAX_CURVE_POINTS = 200


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


def precision_recall_points(
    y: np.ndarray, proba: np.ndarray, classes: np.ndarray
) -> list[dict[str, float]]:
    """Micro-average: each (sample, class) pair is one binary decision scored by its probability."""
    truth = label_binarize(y, classes=classes).ravel()
    # drop_intermediate removes points that lie on a straight segment of the curve, so the
    # thinning below spends its points where the curve bends.
    precision, recall, thresholds = precision_recall_curve(
        truth, proba.ravel(), drop_intermediate=True
    )
    # precision and recall end with a (1, 0) point that has no threshold; indexing by
    # thresholds leaves it out, so the three columns stay aligned.
    keep = np.unique(np.linspace(0, len(thresholds) - 1, MAX_CURVE_POINTS).round().astype(int))
    return [
        {
            "precision": round(float(precision[i]), 6),
            "recall": round(float(recall[i]), 6),
            "threshold": round(float(thresholds[i]), 6),
        }
        for i in keep
    ]


def main() -> int:
    test = np.load(FEATURES_DIR / "test.npz")
    x, y = test["x"], test["y"]
    # The model is our own train stage's output, so unpickling it is trusted.
    model = pickle.loads(MODEL_PATH.read_bytes())
    classes = model.classes_
    proba = model.predict_proba(x)
    predicted = classes[proba.argmax(axis=1)]
    metrics = {
        "accuracy": round(float(accuracy_score(y, predicted)), 6),
        "f1": round(float(f1_score(y, predicted, average="macro")), 6),
        "loss": round(float(log_loss(y, proba, labels=classes)), 6),
    }
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    write_json(REPORTS_DIR / "metrics.json", metrics)
    rows = [f"{int(a)},{int(p)}" for a, p in zip(y, predicted, strict=True)]
    (REPORTS_DIR / "confusion.csv").write_text(
        "actual,predicted\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    write_json(REPORTS_DIR / "prc.json", {"prc": precision_recall_points(y, proba, classes)})
    print(f"evaluate: {json.dumps(metrics, sort_keys=True)} -> reports/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
