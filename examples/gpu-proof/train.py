"""GPU proof: a few hundred gradient steps of a least-squares fit, on CUDA when present.

Writes metrics.json with the device, the GPU model torch sees, the final loss and the step
rate. Without torch installed, a pure-Python stand-in fits a small version on the CPU, so the
pipeline and ci-ml's recording of the GPU model can be tested without a multi-GB download.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path


def fit_torch(steps: int, size: int) -> dict[str, object]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(size, size, generator=generator).to(device)
    y = x @ torch.randn(size, 1, generator=generator).to(device)
    w = torch.zeros(size, 1, device=device, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.1 / size)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "backend": f"torch {torch.__version__}",
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else "none",
        "loss": float(loss),
        "steps_per_second": steps / seconds,
    }


def fit_stand_in(steps: int, size: int) -> dict[str, object]:
    """The same fit in pure Python, shrunk so it takes well under a second."""
    size = min(size, 8)
    rng = random.Random(0)
    x = [[rng.gauss(0, 1) for _ in range(size)] for _ in range(size)]
    true_w = [rng.gauss(0, 1) for _ in range(size)]
    y = [sum(a * b for a, b in zip(row, true_w, strict=True)) for row in x]
    w = [0.0] * size
    start = time.perf_counter()
    loss = 0.0
    for _ in range(steps):
        errors = [
            sum(a * b for a, b in zip(row, w, strict=True)) - target
            for row, target in zip(x, y, strict=True)
        ]
        loss = sum(e * e for e in errors) / size
        for j in range(size):
            w[j] -= 0.1 / size * 2 * sum(errors[i] * x[i][j] for i in range(size)) / size
    seconds = time.perf_counter() - start
    return {
        "backend": "pure-python stand-in (torch not installed)",
        "device": "cpu",
        "gpu": "none",
        "loss": loss,
        "steps_per_second": steps / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        metrics = fit_stand_in(args.steps, args.size)
    else:
        metrics = fit_torch(args.steps, args.size)
    Path("metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(json.dumps(metrics, sort_keys=True))


if __name__ == "__main__":
    main()
