"""Pure helpers of the transfer layer."""

from __future__ import annotations

from pathlib import Path

from ci_ml.cache.transfer import file_size, split_by_size


def test_split_by_size_sends_only_objects_known_to_be_small_many_at_a_time() -> None:
    items = {"c": Path("c"), "a": Path("a"), "b": Path("b"), "d": Path("d")}
    sizes = {"a": 10, "b": 11, "c": None}  # c: unknown, d: not given

    small, big = split_by_size(items, sizes, 10)

    assert small == [("a", Path("a"))]
    assert big == [("b", Path("b")), ("c", Path("c")), ("d", Path("d"))]


def test_file_size_of_a_missing_file_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"123")
    assert file_size(tmp_path / "f") == 3
    assert file_size(tmp_path / "gone") is None
