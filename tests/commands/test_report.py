"""`ci-ml report` and `ci-ml diff` end to end: base values from the cache, from git, or missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers.gitrepo import GitRepo, run_cli

DVC_YAML = """\
stages:
  train:
    cmd: >-
      python3 -c "import json; print(json.dumps({'acc': ${acc}, 'loss': ${loss}}))" > metrics.json
    params: [acc, loss]
    metrics:
      - metrics.json:
          cache: false
"""


def make_repo(git_repo: GitRepo, *, ignore_metrics: bool = True, config: str = "") -> GitRepo:
    files = {"dvc.yaml": DVC_YAML, "params.yaml": "acc: 0.9\nloss: 0.3\n", "ci-ml.yaml": config}
    if ignore_metrics:
        files[".gitignore"] = "metrics.json\n"
    git_repo.write(files, commit="base")
    return git_repo


def pr(repo: GitRepo, acc: float, loss: float) -> None:
    repo.git("checkout", "-q", "-b", "pr")
    repo.write({"params.yaml": f"acc: {acc}\nloss: {loss}\n"}, commit="pr")


def report_json(path: Path, *args: str, base: str = "main") -> tuple[int, dict[str, str], str]:
    code, out, err = run_cli("report", "--json", "--base", base, *args, cwd=path)
    return code, json.loads(out) if out.strip() else {}, err


def test_base_metrics_come_from_the_cache(git_repo: GitRepo, tmp_path: Path) -> None:
    repo = make_repo(git_repo)
    cache = str(tmp_path / "cache")
    assert run_cli("run", "--all", "--cache", cache, cwd=repo.path)[0] == 0
    pr(repo, 0.95, 0.2)
    assert run_cli("run", "--base", "main", "--cache", cache, cwd=repo.path)[0] == 0
    code, doc, err = report_json(repo.path, "--cache", cache)
    assert code == 0, err
    body = Path(doc["report"]).read_text()
    assert "| `acc`    | 0.9    | 0.95   | +0.05 (+5.6 %) | 🟢 improved |" in body
    assert "| `loss`   | 0.3    | 0.2    | -0.1 (-33.3 %) | 🟢 improved |" in body
    assert "| `acc`   | `0.9`  | `0.95` |" in body  # the params diff


def test_base_metrics_come_from_git_when_committed(git_repo: GitRepo) -> None:
    repo = make_repo(git_repo, ignore_metrics=False)
    repo.write({"metrics.json": '{"acc": 0.5, "loss": 1.0}\n'}, commit="metrics at base")
    pr(repo, 0.6, 0.9)
    assert run_cli("run", "--base", "main", cwd=repo.path)[0] == 0
    code, out, err = run_cli("diff", "--json", "--base", "main", cwd=repo.path)
    assert code == 0, err
    metrics = {m["name"]: (m["base"], m["head"], m["verdict"]) for m in json.loads(out)["metrics"]}
    assert metrics == {"acc": (0.5, 0.6, "improved"), "loss": (1.0, 0.9, "improved")}


def test_missing_base_is_neutral_with_a_note(git_repo: GitRepo) -> None:
    repo = make_repo(git_repo)
    pr(repo, 0.6, 0.9)
    assert run_cli("run", "--base", "main", cwd=repo.path)[0] == 0
    code, doc, _err = report_json(repo.path)
    assert code == 0
    assert doc["verdict"] == "no-base"
    body = Path(doc["report"]).read_text()
    assert (
        "base metrics of metrics\\.json: missing" in body
        or "base metrics of metrics.json: missing" in body
    )


@pytest.mark.parametrize(("flags", "expected"), [((), 1), (("--no-fail",), 0)])
def test_gate_failure_exit_code(
    git_repo: GitRepo, tmp_path: Path, flags: tuple[str, ...], expected: int
) -> None:
    repo = make_repo(
        git_repo,
        config="metrics-config:\n  acc: {max-regression: 0.01}\n  loss: {max-regression: 5%}\n",
    )
    cache = str(tmp_path / "cache")
    assert run_cli("run", "--all", "--cache", cache, cwd=repo.path)[0] == 0
    pr(repo, 0.85, 0.3)
    assert run_cli("run", "--base", "main", "--cache", cache, cwd=repo.path)[0] == 0
    code, doc, err = report_json(repo.path, "--cache", cache, *flags)
    assert code == expected
    assert doc["verdict"] == "failed"
    assert doc["text"] == "acc dropped by 0.05 (allowed: 0.01)"
    assert "metric gate failed" in err


def test_job_summary_and_outputs_on_actions(git_repo: GitRepo, tmp_path: Path) -> None:
    repo = make_repo(git_repo)
    pr(repo, 0.95, 0.2)
    assert run_cli("run", "--base", "main", cwd=repo.path)[0] == 0
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    code, _out, err = run_cli(
        "report", "--base", "main", "--out", str(tmp_path / "rep"), cwd=repo.path, env=env
    )
    assert code == 0, err
    assert summary.read_text() == (tmp_path / "rep/report.md").read_text()
    assert "verdict<<" in output.read_text()


def test_diff_table_in_the_terminal(git_repo: GitRepo) -> None:
    repo = make_repo(git_repo, ignore_metrics=False)
    repo.write({"metrics.json": '{"acc": 0.5, "loss": 1.0}\n'}, commit="metrics at base")
    pr(repo, 0.6, 0.9)
    subprocess.run(["git", "status"], cwd=repo.path, check=True, capture_output=True)
    assert run_cli("run", "--base", "main", cwd=repo.path)[0] == 0
    code, out, _ = run_cli("diff", "--base", "main", cwd=repo.path)
    assert code == 0
    assert out.splitlines()[:4] == [
        "metric    base    head    change    verdict",
        "--------  ------  ------  --------  ---------",
        "acc       0.5     0.6     +0.1      improved",
        "loss      1       0.9     -0.1      improved",
    ]


def stage_row(body: str, name: str) -> list[str]:
    line = next(line for line in body.splitlines() if line.startswith(f"| `{name}`"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_report_on_another_machine_reads_the_run_records_in_the_cache(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    repo = make_repo(git_repo)
    cache = str(tmp_path / "cache")
    assert run_cli("run", "--all", "--cache", cache, cwd=repo.path)[0] == 0
    pr(repo, 0.95, 0.2)
    env = {"RUNNER_NAME": "gpu-runner-7"}
    assert run_cli("run", "--base", "main", "--cache", cache, cwd=repo.path, env=env)[0] == 0
    # The report job: its own clone of the same commit, no .ci-ml/ from the run job.
    other = tmp_path / "report-job"
    subprocess.run(["git", "clone", "-q", "-b", "pr", str(repo.path), str(other)], check=True)
    assert run_cli("pull", "--cache", cache, cwd=other)[0] == 0
    code, doc, err = report_json(other, "--cache", cache, base="origin/main")
    assert code == 0, err
    body = Path(doc["report"]).read_text()
    assert "1 stage ran, 0 restored from cache." in body
    status, why, _duration, runner = stage_row(body, "train")[1:]
    assert (status, why, runner) == (
        "▶️ ran",
        "param acc changed: 0.9 -&gt; 0.95; param loss changed: 0.3 -&gt; 0.2",
        "gpu-runner-7",
    )
    assert "| `acc`    | 0.9    | 0.95   |" in body


def test_report_shows_a_stage_restored_from_another_commit_as_saved(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    repo = make_repo(git_repo)
    cache = str(tmp_path / "cache")
    assert run_cli("run", "--all", "--cache", cache, cwd=repo.path)[0] == 0
    pr(repo, 0.95, 0.2)
    assert run_cli("run", "--base", "main", "--cache", cache, cwd=repo.path)[0] == 0
    computed_at = repo.git("rev-parse", "HEAD").strip()[:7]
    # Another branch with the same params: its key is in the cache, computed at `pr`.
    repo.git("checkout", "-q", "-b", "again", "main")
    repo.write({"params.yaml": "acc: 0.95\nloss: 0.2\n"}, commit="same params")
    other = tmp_path / "report-job"
    subprocess.run(["git", "clone", "-q", "-b", "again", str(repo.path), str(other)], check=True)
    code, doc, err = report_json(other, "--cache", cache, "--no-plots", base="origin/main")
    assert code == 0, err
    body = Path(doc["report"]).read_text()
    assert "0 stages ran, 1 restored from cache (≈ " in body
    status, why, duration = stage_row(body, "train")[1:4]
    assert (status, why) == ("♻️ restored", f"restored from cache (computed at {computed_at})")
    assert duration.endswith(" saved")


def test_report_says_when_a_planned_stage_never_reached_the_cache(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    repo = make_repo(git_repo)
    cache = str(tmp_path / "cache")
    assert run_cli("run", "--all", "--cache", cache, cwd=repo.path)[0] == 0
    pr(repo, 0.95, 0.2)
    code, doc, err = report_json(repo.path, "--cache", cache, "--no-plots")
    assert code == 0, err
    body = Path(doc["report"]).read_text()
    assert stage_row(body, "train")[1] == "⚠️ not run"
    assert "0 stages ran, 0 restored from cache, **1 not run**." in body
