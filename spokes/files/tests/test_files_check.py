"""check(): OK when every stream has a readable file or at least an existing directory."""

from __future__ import annotations

from pathlib import Path

from spokehub_contracts import CheckStatus
from spokehub_files import FilesSource, FilesSourceConfig


def source(*paths: str) -> FilesSource:
    streams = [
        {"name": f"s{i}", "path": path, "kind": "event", "format": "jsonl"}
        for i, path in enumerate(paths)
    ]
    return FilesSource(FilesSourceConfig(streams=streams))


async def test_ok_with_matching_files_or_existing_directories(workdir: Path) -> None:
    (workdir / "data").mkdir()
    (workdir / "data" / "orders-1.jsonl").write_text("")
    (workdir / "inbox").mkdir()
    (workdir / "one.jsonl").write_text("")
    result = await source(
        "data/orders-*.jsonl",
        "inbox/*.jsonl",  # nothing yet, but the directory is there
        "inbox/later.jsonl",
        "one.jsonl",
        str(workdir / "data" / "*.jsonl"),
    ).check()
    assert result.status is CheckStatus.OK
    assert result.ok


async def test_config_error_names_each_failing_stream(workdir: Path) -> None:
    (workdir / "data").mkdir()
    result = await source("data/*.jsonl", "missing/*.jsonl", "gone/file.jsonl").check()
    assert result.status is CheckStatus.CONFIG_ERROR
    assert "'s0'" not in result.message
    assert "stream 's1': no file matches missing/*.jsonl" in result.message
    assert "directory missing does not exist" in result.message
    assert "stream 's2'" in result.message


async def test_the_directory_of_a_pattern_is_its_part_before_the_first_wildcard(
    workdir: Path,
) -> None:
    result = await source("exports/*/orders.jsonl").check()
    assert result.status is CheckStatus.CONFIG_ERROR
    assert "directory exports does not exist" in result.message
    (workdir / "exports").mkdir()
    assert (await source("exports/*/orders.jsonl").check()).ok
