from __future__ import annotations

from typing import Any

from ci_ml.pipeline.parse import parse_pipeline

DVC = "stages:\n  train:\n    cmd: python train.py --lr ${lr}\n    params: [lr]\n"


def test_shared_documents_read_a_pipeline_file_once_and_change_nothing() -> None:
    base_files = {"dvc.yaml": DVC, "params.yaml": "lr: 0.1\n"}
    head_files = {"dvc.yaml": DVC, "params.yaml": "lr: 0.2\n"}
    documents: dict[tuple[str, str], Any] = {}
    head = parse_pipeline(head_files.get, ["dvc.yaml"], documents=documents)
    base = parse_pipeline(base_files.get, ["dvc.yaml"], documents=documents)
    assert list(documents) == [("dvc.yaml", DVC)]
    assert head == parse_pipeline(head_files.get, ["dvc.yaml"])
    assert base == parse_pipeline(base_files.get, ["dvc.yaml"])
    assert head.stages[0].cmd == ("python train.py --lr 0.2",)
    assert base.stages[0].cmd == ("python train.py --lr 0.1",)
