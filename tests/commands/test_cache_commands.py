"""`run` against S3 (moto), and `push`, `pull`, `gc`, with real git repos and the real CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.commands.test_run import FILES, run_json, statuses
from tests.helpers.gitrepo import GitRepo, run_cli
from tests.helpers.moto_server import S3Bucket


def clone(repo: GitRepo, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(repo.path), str(dest)], check=True)
    return dest


def test_pr_run_against_s3_restores_main_results(
    git_repo: GitRepo, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    git_repo.write(FILES, commit="base")
    url = f"{s3_bucket.url}/team-cache"
    main = clone(git_repo, tmp_path / "main")
    code, doc, err = run_json(main, "--all", "--cache", url, "--trust", "trusted")
    assert code == 0, err
    assert statuses(doc)["train"] == "ran"
    git_repo.write({"params.yaml": "train:\n  lr: 0.3\n"}, commit="pr")
    pr = clone(git_repo, tmp_path / "pr")
    code, doc, err = run_json(pr, "--base", "HEAD~1", "--cache", url, "--trust", "untrusted")
    assert code == 0, err
    assert statuses(doc) == {
        "prepare": "restored",
        "train": "ran",
        "evaluate": "ran",
        "side": "unchanged",
    }
    names = [
        o["Key"] for o in s3_bucket.client().list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    ]
    assert all(n.startswith(("team-cache/trusted/", "team-cache/untrusted/")) for n in names)
    pr_manifests = [n for n in names if n.startswith("team-cache/untrusted/manifests/")]
    assert len(pr_manifests) == 2  # train and evaluate: the PR wrote only the untrusted area


def test_trusted_run_never_reads_a_pr_entry(
    git_repo: GitRepo, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    git_repo.write(FILES, commit="base")
    url = s3_bucket.url
    pr = clone(git_repo, tmp_path / "pr")
    assert run_json(pr, "--all", "--cache", url, "--trust", "untrusted")[0] == 0
    main = clone(git_repo, tmp_path / "main")
    code, doc, _err = run_json(main, "--all", "--cache", url, "--trust", "trusted")
    assert code == 0
    assert statuses(doc)["prepare"] == "ran"  # the PR's entry for the same key was not used


def test_no_push_then_push(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.write(FILES, commit="base")
    cache = tmp_path / "cache"
    assert run_json(git_repo, "--all", "--no-push", "--cache", str(cache))[0] == 0
    assert not list(cache.glob("*/manifests/*.json"))
    code, out, err = run_cli("push", "--json", "--cache", str(cache), cwd=git_repo.path)
    assert code == 0, err
    assert sorted(json.loads(out)["pushed"]) == ["evaluate", "prepare", "side", "train"]
    assert len(list(cache.glob("*/manifests/*.json"))) == 4
    code, out, _ = run_cli("push", "--json", "--cache", str(cache), cwd=git_repo.path)
    assert json.loads(out)["pushed"] == []


def test_push_skips_outputs_changed_since_the_run(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.write(FILES, commit="base")
    cache = tmp_path / "cache"
    assert run_json(git_repo, "train", "--no-push", "--cache", str(cache))[0] == 0
    (git_repo.path / "model.txt").write_text("tampered\n")
    code, out, _ = run_cli("push", "--json", "--cache", str(cache), cwd=git_repo.path)
    assert code == 0
    assert json.loads(out)["stale"] == ["train"]


def test_pull_restores_into_an_empty_workspace(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.write(FILES, commit="base")
    cache = tmp_path / "cache"
    assert run_json(git_repo, "--all", "--cache", str(cache))[0] == 0
    fresh = clone(git_repo, tmp_path / "fresh")
    code, out, err = run_cli("pull", "--json", "train", "--cache", str(cache), cwd=fresh)
    assert code == 0, err
    assert json.loads(out) == {"restored": ["train"], "not_cached": [], "failed": []}
    assert (fresh / "model.txt").read_text() == "model of HELLO lr=0.1\n"
    assert not (fresh / "data").exists()


def test_gc_keeps_what_refs_need_and_removes_the_rest(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.write(FILES, commit="base")
    cache = str(tmp_path / "cache")
    assert run_json(git_repo, "--all", "--cache", cache)[0] == 0
    git_repo.write({"params.yaml": "train:\n  lr: 0.9\n"}, commit="new lr")
    assert run_json(git_repo, "--all", "--cache", cache)[0] == 0
    code, out, _ = run_cli(
        "gc", "--json", "--keep-ref", "HEAD", "--cache", cache, cwd=git_repo.path
    )
    assert code == 0
    dry = json.loads(out)
    # train's and evaluate's old manifests go; of their objects only the old model does:
    # the old metrics.json has the same bytes as the new one, and objects are shared.
    assert (dry["manifests_removed"], dry["objects_removed"], dry["deleted"]) == (2, 1, False)
    code, out, _ = run_cli(
        "gc", "--json", "--keep-ref", "HEAD", "--delete", "--cache", cache, cwd=git_repo.path
    )
    assert json.loads(out)["deleted"] is True
    fresh = clone(git_repo, tmp_path / "fresh")
    code, doc, _ = run_json(fresh, "--all", "--cache", cache)
    assert code == 0
    assert "ran" not in statuses(doc).values()  # everything HEAD needs survived


SHARDS_YAML = """\
stages:
  shard:
    cmd: python shard.py
    deps: [shard.py]
    outs: [shards]
"""
SHARD_PY = """\
import os
os.makedirs("shards/part", exist_ok=True)
for n in range(40):
    with open(f"shards/part/{n:03d}.csv", "w") as f:
        f.write(f"row,{n}\\n" * (n + 1))
"""


def test_many_small_outputs_travel_as_a_pack_and_restore_in_a_fresh_clone(
    git_repo: GitRepo, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    git_repo.write({"dvc.yaml": SHARDS_YAML, "shard.py": SHARD_PY}, commit="base")
    url = f"{s3_bucket.url}/team-cache"
    main = clone(git_repo, tmp_path / "main")
    code, doc, err = run_json(main, "--all", "--cache", url, "--trust", "trusted")
    assert code == 0, err
    assert statuses(doc) == {"shard": "ran"}
    listed = s3_bucket.client().list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    objects = [o["Key"] for o in listed if "/objects/" in o["Key"]]
    assert len(objects) == 1  # 40 files, one pack

    fresh = clone(git_repo, tmp_path / "fresh")
    code, out, err = run_cli("pull", "--json", "--cache", url, "--trust", "untrusted", cwd=fresh)
    assert code == 0, err
    assert json.loads(out) == {"restored": ["shard"], "not_cached": [], "failed": []}
    made = sorted((main / "shards").rglob("*.csv"))
    assert [p.relative_to(main) for p in made] == [
        p.relative_to(fresh) for p in sorted((fresh / "shards").rglob("*.csv"))
    ]
    assert all((fresh / p.relative_to(main)).read_bytes() == p.read_bytes() for p in made)
