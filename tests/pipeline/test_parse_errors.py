"""Parse errors: each names the file, the line where YAML gives one, the stage, and the fix."""

from __future__ import annotations

import pytest

from tests.pipeline.test_parse import parse_error

# --- errors: each names the file, the line where YAML gives one, the stage, and the fix -------

STAGE = "stages:\n  train:\n    cmd: python train.py\n"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"dvc.yaml": "stages:\n  train:\n    cmd: [x\n"},
            "dvc.yaml:4:1: invalid YAML: did not find expected ',' or ']'. Fix the syntax there.",
        ),
        (
            {"dvc.yaml": "- train\n"},
            "dvc.yaml: expected a mapping with `stages:` at the top, got a list.",
        ),
        (
            {"dvc.yaml": "stage:\n  train: {cmd: x}\n"},
            "dvc.yaml:1: unknown top-level key 'stage' (did you mean 'stages'?). A pipeline file "
            "holds stages, vars, params, metrics, plots.",
        ),
        ({"dvc.yaml": "stages: [a]\n"}, "dvc.yaml: `stages` must be a mapping of stage name to"),
        (
            {"dvc.yaml": "stages:\n  train: python x\n"},
            "dvc.yaml:2: stage 'train': expected a mapping",
        ),
        (
            {"dvc.yaml": STAGE + "    dep: [a]\n"},
            "dvc.yaml:4: stage 'train': unknown key 'dep' (did you mean 'deps'?). A stage takes "
            "cmd, wdir, deps, params, outs, metrics, plots, frozen, always_changed, desc, meta, "
            "vars.",
        ),
        (
            {"dvc.yaml": STAGE + "    gpu: true\n"},
            "dvc.yaml:4: stage 'train': unknown key 'gpu'. ci-ml's stage settings go in "
            "ci-ml.yaml under `stages:`, not in dvc.yaml.",
        ),
        (
            {"dvc.yaml": "stages:\n  train:\n    deps: [a]\n"},
            "dvc.yaml:2: stage 'train': stage has no `cmd`. Add the command that it runs.",
        ),
        (
            {"dvc.yaml": "stages:\n  train:\n    cmd:\n"},
            "dvc.yaml:2: stage 'train': stage has no `cmd`. Add the command that it runs.",
        ),
        (
            {"dvc.yaml": "plots:\n- roc: {gpu: true}\nstages: {}\n"},
            "dvc.yaml:2: unknown key 'gpu'. A plot takes template, x, y,",
        ),
        (
            {"dvc.yaml": "stages:\n  train: {cmd: x}\n  train: {cmd: y}\n"},
            "dvc.yaml:3: duplicate key 'train'. Each key may appear once in a mapping",
        ),
        (
            {"dvc.yaml": "stages:\n  a@b: {cmd: x}\n"},
            "dvc.yaml:2: stage 'a@b': a stage name cannot contain '@' or ':'",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [train.lrr]\n", "params.yaml": "train:\n  lr: 1\n"},
            "dvc.yaml:2: stage 'train': reads param 'train.lrr', which params.yaml does not define "
            "(did you mean 'train.lr'?). Add it to params.yaml or fix the stage's params list.",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [lr]\n"},
            "dvc.yaml:2: stage 'train': params file params.yaml does not exist and no stage "
            "writes it. Create it or fix the stage's params list.",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [{conf/p.yaml: [lr]}]\n"},
            "dvc.yaml:2: stage 'train': params file conf/p.yaml does not exist and no stage",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [{p.yaml: lr}]\n", "p.yaml": "lr: 1\n"},
            "dvc.yaml:2: stage 'train': params of p.yaml must be a list of keys.",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [1]\n"},
            "dvc.yaml:2: stage 'train': params entries are keys or {file: [keys]} mappings.",
        ),
        (
            {"dvc.yaml": "stages:\n  train:\n    cmd: run ${lrr}\n", "params.yaml": "lr: 1\n"},
            "dvc.yaml:2: stage 'train': cannot resolve ${lrr} in 'cmd': 'lrr' is not defined "
            "(did you mean 'lr'?) (defined: lr). Define it in params.yaml or under vars, or fix "
            "the name.",
        ),
        (
            {
                "dvc.yaml": "stages:\n  t:\n    foreach: ${lr}\n    do: {cmd: x}\n",
                "params.yaml": "lr: 0.1\n",
            },
            "dvc.yaml:2: stage 't': foreach needs a list or a mapping, got a number (0.1). Point it "
            "at a list or mapping in params.yaml or vars.",
        ),
        (
            {"dvc.yaml": "stages:\n  t:\n    foreach: [a]\n    do: {cmd: x}\n    cmd: y\n"},
            "dvc.yaml:5: stage 't': unknown key 'cmd'. A foreach stage takes foreach, do.",
        ),
        (
            {"dvc.yaml": "stages:\n  t:\n    do: {cmd: x}\n"},
            "dvc.yaml:2: stage 't': `foreach` needs `do` with a stage definition",
        ),
        (
            {"dvc.yaml": "stages:\n  t:\n    matrix: {a: 1}\n    cmd: x\n"},
            "dvc.yaml:2: stage 't': matrix entry 'a' must be a list, got an integer.",
        ),
        (
            {
                "dvc.yaml": (
                    "stages:\n  t:\n    foreach: [1]\n    do:\n      cmd: x\n"
                    "      vars: [{item: 2}]\n"
                )
            },
            "dvc.yaml:2: stage 't@1': vars[0] redefines 'item', which foreach/matrix sets.",
        ),
        (
            {"dvc.yaml": STAGE + "    deps: [/data/raw]\n"},
            "dvc.yaml:2: stage 'train': deps entry '/data/raw' is not inside the project. ci-ml "
            "tracks files in the repository only: use a path relative to the stage's wdir.",
        ),
        (
            {"dvc.yaml": STAGE + "    outs: [s3://bucket/model]\n"},
            "dvc.yaml:2: stage 'train': outs entry 's3://bucket/model' is not inside the project.",
        ),
        (
            {"dvc.yaml": STAGE + "    deps: ['C:\\data']\n"},
            "dvc.yaml:2: stage 'train': deps entry 'C:\\\\data' is not inside the project.",
        ),
        (
            {"dvc.yaml": STAGE + "    wdir: /abs\n"},
            "dvc.yaml:2: stage 'train': wdir entry '/abs' is not inside the project.",
        ),
        (
            {"dvc.yaml": STAGE + "    deps: a.csv\n"},
            "dvc.yaml:2: stage 'train': `deps` must be a list, got the string 'a.csv'.",
        ),
        (
            {"dvc.yaml": STAGE + "    deps: [[a]]\n"},
            "dvc.yaml:2: stage 'train': deps entries must be non-empty paths, got ['a'].",
        ),
        (
            {"dvc.yaml": STAGE + "    outs:\n    - m.pkl:\n        cach: false\n"},
            "dvc.yaml:6: stage 'train': unknown option 'cach' of outs entry 'm.pkl' (did you mean "
            "'cache'?).",
        ),
        (
            {"dvc.yaml": STAGE + "    outs: [{m.pkl: {cache: 'no'}}]\n"},
            "dvc.yaml:2: stage 'train': cache of outs entry 'm.pkl' must be true or false.",
        ),
        (
            {"dvc.yaml": STAGE + "    frozen: yes\n"},
            "dvc.yaml:2: stage 'train': frozen must be true or false, got 'yes'.",
        ),
        (
            {"dvc.yaml": "stages:\n  train:\n    cmd: [[a]]\n"},
            "dvc.yaml:2: stage 'train': cmd must be a string or a list of strings.",
        ),
        (
            {"dvc.yaml": "vars:\n- ${x}.yaml\n" + STAGE},
            "dvc.yaml: vars[0] uses ${...}, which vars cannot. Write the value.",
        ),
        (
            {"dvc.yaml": "vars: [conf.yaml]\n" + STAGE},
            "dvc.yaml: vars file conf.yaml does not exist.",
        ),
        (
            {"dvc.yaml": "vars: [{lr: 2}]\n" + STAGE, "params.yaml": "lr: 1\n"},
            "dvc.yaml: cannot redefine 'lr' from vars[0] as params.yaml sets it. Rename one.",
        ),
        (
            {"dvc.yaml": "vars: [p.yaml:a, p.yaml:a]\n" + STAGE, "p.yaml": "a: 1\n"},
            "dvc.yaml: vars entry 'p.yaml:a' loads p.yaml again, overlapping what is already",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [lr]\n", "params.yaml": "lr: [1\n"},
            "params.yaml:2:1: invalid YAML",
        ),
        (
            {"dvc.yaml": "plots:\n- roc:\n    xx: a\nstages: {}\n"},
            "dvc.yaml:3: unknown key 'xx' (did you mean 'x'?). A plot takes template, x, y, "
            "x_label, y_label, title.",
        ),
    ],
)
def test_errors_name_file_line_stage_and_fix(files: dict[str, str], message: str) -> None:
    assert message in parse_error(files)


def test_a_missing_pipeline_file_is_an_error() -> None:
    assert parse_error({}, ["sub/dvc.yaml"]) == (
        "sub/dvc.yaml: pipeline file not found. Create it or fix the path."
    )


def test_a_stage_defined_in_two_root_files_is_an_error() -> None:
    files = {"dvc.yaml": STAGE, "ci-ml.yaml": STAGE}
    assert parse_error(files, ["dvc.yaml", "ci-ml.yaml"]) == (
        "dvc.yaml:2: stage 'train' is defined twice (also at ci-ml.yaml:2). Rename one of them."
    )
