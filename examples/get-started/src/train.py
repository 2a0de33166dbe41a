"""Stage `train`: fit a classifier epoch by epoch, logging a learning curve as it goes.

Writes models/model.pkl and reports/train_curve.csv (`epoch,loss,accuracy`, one row per epoch).

Both models learn incrementally with `partial_fit`, one pass over the training set per call,
so each row of the curve is the state of the real model after that epoch.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.neural_network import MLPClassifier

ROOT = Path(__file__).resolve().parents[1]
FEATURES_DIR = ROOT / "data" / "features"
MODEL_PATH = ROOT / "models" / "model.pkl"
CURVE_PATH = ROOT / "reports" / "train_curve.csv"
MODELS = ("mlp", "logreg")


def load_params() -> dict[str, Any]:
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    params: dict[str, Any] = yaml.safe_load(text)["train"]
    return params


def build_model(params: dict[str, Any]) -> Any:
    kind = str(params["model"])
    if kind == "mlp":
        return MLPClassifier(
            hidden_layer_sizes=(int(params["hidden_size"]),),
            alpha=float(params["alpha"]),
            learning_rate_init=float(params["lr"]),
            random_state=int(params["seed"]),
        )
    if kind == "logreg":
        # SGD on the log loss is logistic regression that can be trained one epoch at a time,
        # which LogisticRegression cannot.
        return SGDClassifier(
            loss="log_loss",
            alpha=float(params["alpha"]),
            learning_rate="constant",
            eta0=float(params["lr"]),
            random_state=int(params["seed"]),
        )
    raise SystemExit(f"params.yaml: train.model is {kind!r}; use one of {', '.join(MODELS)}.")


def fit_epochs(model: Any, x: np.ndarray, y: np.ndarray, epochs: int) -> list[str]:
    """Train for `epochs` passes and return one `epoch,loss,accuracy` CSV row per pass."""
    classes = np.unique(y)
    rows = []
    for epoch in range(1, epochs + 1):
        model.partial_fit(x, y, classes=classes)
        # Plain log loss on the training set, the same measure for both models (MLP's own
        # loss_ adds the L2 penalty and averages over minibatches of a moving model).
        proba = model.predict_proba(x)
        loss = log_loss(y, proba, labels=classes)
        accuracy = accuracy_score(y, classes[proba.argmax(axis=1)])
        rows.append(f"{epoch},{loss:.6f},{accuracy:.6f}")
    return rows


def main() -> int:
    params = load_params()
    epochs = int(params["epochs"])
    if epochs < 1:
        raise SystemExit(f"params.yaml: train.epochs is {epochs}; use 1 or more.")
    train = np.load(FEATURES_DIR / "train.npz")
    model = build_model(params)
    # scikit-learn only runs on the CPU; say so, so logs from a GPU runner are not misread.
    print(f"train: model={params['model']} epochs={epochs} device=cpu")
    rows = fit_epochs(model, train["x"], train["y"], epochs)
    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    CURVE_PATH.parent.mkdir(parents=True, exist_ok=True)
    MODEL_PATH.write_bytes(pickle.dumps(model, protocol=5))
    CURVE_PATH.write_text("epoch,loss,accuracy\n" + "\n".join(rows) + "\n", encoding="utf-8")
    print(f"train: final {rows[-1]} (epoch,loss,accuracy) -> models/model.pkl")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
