"""A directory's content id is the sha256 of its sorted (path, id) pairs as compact JSON."""

from __future__ import annotations

import hashlib
import json

import pytest

from ci_ml.plan.keys import combine_git_ids, combine_ids


def _reference(entries: dict[str, str]) -> str:
    text = json.dumps(sorted(entries.items()), separators=(",", ":"), ensure_ascii=False)
    return "dir:" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


@pytest.mark.parametrize(
    "entries",
    [
        {},
        {"a.csv": "git:0123"},
        {"b/c.csv": "git:2", "a.csv": "git:1", "a b.csv": "sha256:3"},
        {'quote".csv': "git:1"},
        {"back\\slash.csv": "git:1"},
        {"new\nline.csv": "git:1", "tab\t.csv": "git:2", "bell\x07": "git:3"},
        {"\u00e9t\u00e9.csv": "git:1", "\u4e2d.csv": "git:2", "del\x7f": "git:3"},
        {"a.csv": 'link:"x"'},
    ],
)
def test_directory_id_is_the_json_of_its_sorted_entries(entries: dict[str, str]) -> None:
    assert combine_ids(entries) == _reference(entries)


def test_directory_id_is_known() -> None:
    assert combine_ids({"f": "git:1"}) == ("dir:" + hashlib.sha256(b'[["f","git:1"]]').hexdigest())


@pytest.mark.parametrize(
    "names",
    [
        [],
        ["a.csv"],
        ["a b.csv", "a.csv", "b/c.csv"],
        ["b.csv", "a.csv"],  # not in order: sorted as combine_ids would
        ['quote".csv', "z"],
        ["back\\slash.csv"],
        ["new\nline.csv", "tab\t.csv"],
        ["\u00e9t\u00e9.csv", "\u4e2d.csv", "del\x7f"],
        ["bad\udcff.csv", "caf\u00e9.csv"],  # a name git gave as bytes that are not UTF-8
    ],
)
def test_git_directory_id_is_the_same_as_from_the_mapping(names: list[str]) -> None:
    oids = [f"{n:040x}" for n in range(len(names))]
    entries = {name: "git:" + oid for name, oid in zip(names, oids, strict=True)}
    assert combine_git_ids(names, oids) == combine_ids(entries) == _reference(entries)
