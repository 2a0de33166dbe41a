"""Stage `prepare`: split scikit-learn's bundled digits into data/prepared/{train,test}.npz.

The digits ship inside scikit-learn, so the example needs no download.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "data" / "prepared"


def load_params() -> dict[str, Any]:
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    params: dict[str, Any] = yaml.safe_load(text)["prepare"]
    return params


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as an .npz that np.load reads, with the same bytes on every run.

    np.savez stamps each zip entry with the wall-clock time, so two identical runs would give
    different files and a content-addressed cache would see a change where there is none.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]))
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(entry, buffer.getvalue())


def main() -> int:
    params = load_params()
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data,
        digits.target,
        test_size=float(params["test_size"]),
        random_state=int(params["seed"]),
        stratify=digits.target,  # keeps all ten digits equally represented in both halves
    )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    save_npz(OUT_DIR / "train.npz", {"x": x_train, "y": y_train})
    save_npz(OUT_DIR / "test.npz", {"x": x_test, "y": y_test})
    print(f"prepare: {len(y_train)} train / {len(y_test)} test samples -> data/prepared/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
