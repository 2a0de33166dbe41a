"""Stage `featurize`: scale the pixels, optionally apply PCA, write data/features/{train,test}.npz.

Scaler and PCA are fitted on the training split only, so nothing about the test set leaks
into the features the model is trained on.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

ROOT = Path(__file__).resolve().parents[1]
IN_DIR = ROOT / "data" / "prepared"
OUT_DIR = ROOT / "data" / "features"
SCALERS = {
    "standard": StandardScaler,
    "minmax": MinMaxScaler,
    # The identity, so "none" needs no special case below.
    "none": FunctionTransformer,
}


def load_params() -> dict[str, Any]:
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    params: dict[str, Any] = yaml.safe_load(text)["featurize"]
    return params


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as an .npz that np.load reads, with the same bytes on every run.

    np.savez stamps each zip entry with the wall-clock time, so two identical runs would give
    different files and a content-addressed cache would see a change where there is none.
    Each stage script is self-contained (its only code dep is itself), hence this copy of
    the function in prepare.py.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]))
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(entry, buffer.getvalue())


def build_transform(scale: str, pca_components: int, n_features: int) -> Any:
    if scale not in SCALERS:
        raise SystemExit(
            f"params.yaml: featurize.scale is {scale!r}; use one of {', '.join(SCALERS)}."
        )
    if not 0 <= pca_components <= n_features:
        raise SystemExit(
            f"params.yaml: featurize.pca_components is {pca_components}; use 0 (no PCA)"
            f" up to {n_features}, the number of pixels."
        )
    steps = [SCALERS[scale]()]
    if pca_components > 0:
        # The full SVD is exact and seed-free on 64 columns; "auto" may pick a randomized one.
        steps.append(PCA(n_components=pca_components, svd_solver="full"))
    return make_pipeline(*steps)


def main() -> int:
    params = load_params()
    train = np.load(IN_DIR / "train.npz")
    test = np.load(IN_DIR / "test.npz")
    transform = build_transform(
        str(params["scale"]), int(params["pca_components"]), n_features=train["x"].shape[1]
    )
    x_train = transform.fit_transform(train["x"])
    x_test = transform.transform(test["x"])
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    save_npz(OUT_DIR / "train.npz", {"x": x_train, "y": train["y"]})
    save_npz(OUT_DIR / "test.npz", {"x": x_test, "y": test["y"]})
    print(
        f"featurize: scale={params['scale']} pca_components={params['pca_components']}"
        f" -> {x_train.shape[1]} features in data/features/"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
