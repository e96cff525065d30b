"""Reading files: formats, globs, checkpoints, resuming, growing and replaced files."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spokehub_contracts import ConfigError, Event, Person, SourceRecord, Stream
from spokehub_files import FilesSource, FilesSourceConfig

PEOPLE_CSV = (
    "id,email,first_name,city\n"
    "1,ada@example.com,Ada,London\n"
    "2,bob@example.com,Bob,Paris\n"
    "3,cy@example.com,Cy,Rome\n"
)


def people_stream(path: str = "people.csv", **extra: Any) -> dict[str, Any]:
    return {
        "path": path,
        "kind": "person",
        "identifiers": {"email": "email", "id": "user_id"},
        "mapping": {"city": "address.city"},
        "record_id": "id",
        **extra,
    }


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def track(n: int) -> dict[str, Any]:
    return {"type": "track", "event": "Order Completed", "userId": f"u{n}", "properties": {"n": n}}


def ns(run: Any) -> list[int]:
    return [r.data.properties["n"] for r in run.records]


async def test_csv_rows_become_records_with_a_checkpoint_at_the_end(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    (workdir / "people.csv").write_text(PEOPLE_CSV)
    run = await read_all(make_source(**people_stream()))
    assert [r.record_id for r in run.records] == ["1", "2", "3"]
    assert all(isinstance(r.data, Person) for r in run.records)
    assert run.records[0].data.address.city == "London"
    assert run.items[-1] == run.checkpoints[-1]
    assert run.state == {"files": {"people.csv": len(PEOPLE_CSV.encode())}}


async def test_jsonl_rows_become_records(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    (workdir / "events.jsonl").write_text(jsonl(track(1), track(2)) + "\n   \n")
    run = await read_all(make_source(path="events.jsonl", kind="event"))
    assert all(isinstance(r.data, Event) for r in run.records)
    assert ns(run) == [1, 2]
    assert run.state == {"files": {"events.jsonl": (workdir / "events.jsonl").stat().st_size}}


async def test_format_can_be_set_for_any_extension(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    (workdir / "export.txt").write_text(PEOPLE_CSV.replace(",", ";"))
    source = make_source(**people_stream("export.txt", format="csv", delimiter=";"))
    assert len((await read_all(source)).records) == 3


async def test_glob_reads_every_match_in_sorted_order(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    data = workdir / "data"
    data.mkdir()
    (data / "orders-2.jsonl").write_text(jsonl(track(3), track(4)))
    (data / "orders-1.jsonl").write_text(jsonl(track(1), track(2)))
    (data / "orders-3.jsonl").write_text(jsonl(track(5)))
    (data / "other.jsonl").write_text(jsonl(track(99)))
    run = await read_all(make_source(path="data/orders-*.jsonl", kind="event"))
    assert ns(run) == [1, 2, 3, 4, 5]
    # One checkpoint per file, each carrying the offsets of every file read so far.
    assert [sorted(c.state["files"]) for c in run.checkpoints] == [
        ["data/orders-1.jsonl"],
        ["data/orders-1.jsonl", "data/orders-2.jsonl"],
        ["data/orders-1.jsonl", "data/orders-2.jsonl", "data/orders-3.jsonl"],
    ]


async def test_recursive_glob(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    (workdir / "a" / "b").mkdir(parents=True)
    (workdir / "a" / "x.jsonl").write_text(jsonl(track(1)))
    (workdir / "a" / "b" / "y.jsonl").write_text(jsonl(track(2)))
    run = await read_all(make_source(path="a/**/*.jsonl", kind="event"))
    assert sorted(ns(run)) == [1, 2]


async def test_checkpoint_after_every_n_records(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    content = jsonl(*(track(n) for n in range(7)))
    (workdir / "e.jsonl").write_text(content)
    run = await read_all(make_source(checkpoint_every=3, path="e.jsonl", kind="event"))
    kinds = ["r" if isinstance(item, SourceRecord) else "c" for item in run.items]
    assert "".join(kinds) == "rrrcrrrcrc"
    lines = content.encode().splitlines(keepends=True)
    offsets = [c.state["files"]["e.jsonl"] for c in run.checkpoints]
    assert offsets == [len(b"".join(lines[:3])), len(b"".join(lines[:6])), len(content)]


async def test_resume_from_each_checkpoint_yields_exactly_the_rest(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    data = workdir / "data"
    data.mkdir()
    (data / "1.jsonl").write_text(jsonl(*(track(n) for n in range(5))))
    (data / "2.jsonl").write_text(jsonl(*(track(n) for n in range(5, 9))))
    source = make_source(checkpoint_every=2, path="data/*.jsonl", kind="event")
    full = await read_all(source)
    assert ns(full) == list(range(9))
    seen = 0
    for item in full.items:
        if isinstance(item, SourceRecord):
            seen += 1
            continue
        rest = await read_all(source, state=item.state)
        assert ns(rest) == list(range(seen, 9)), item.state


async def test_rerun_with_the_final_state_yields_nothing(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    (workdir / "people.csv").write_text(PEOPLE_CSV)
    source = make_source(**people_stream())
    first = await read_all(source)
    assert (await read_all(source, state=first.state)).items == []


async def test_a_file_that_grew_is_continued_from_its_offset(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "people.csv"
    path.write_text(PEOPLE_CSV)
    source = make_source(**people_stream())
    first = await read_all(source)
    with path.open("a") as f:
        f.write("4,dee@example.com,Dee,Oslo\n5,eve@example.com,Eve,Rome\n")
    second = await read_all(source, state=first.state)
    assert [r.record_id for r in second.records] == ["4", "5"]
    assert second.state == {"files": {"people.csv": path.stat().st_size}}
    assert (await read_all(source, state=second.state)).items == []


async def test_a_new_file_next_to_finished_ones_is_read_alone(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    (workdir / "e-1.jsonl").write_text(jsonl(track(1)))
    source = make_source(path="e-*.jsonl", kind="event")
    first = await read_all(source)
    (workdir / "e-2.jsonl").write_text(jsonl(track(2)))
    second = await read_all(source, state=first.state)
    assert ns(second) == [2]
    assert set(second.state["files"]) == {"e-1.jsonl", "e-2.jsonl"}


async def test_a_file_shorter_than_its_offset_is_read_again(
    workdir: Path,
    make_source: Callable[..., FilesSource],
    read_all: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = workdir / "e.jsonl"
    path.write_text(jsonl(track(1), track(2), track(3)))
    source = make_source(path="e.jsonl", kind="event")
    first = await read_all(source)
    path.write_text(jsonl(track(7)))
    with caplog.at_level(logging.WARNING, logger="spokehub_files"):
        assert ns(await read_all(source, state=first.state)) == [7]
    assert "e.jsonl is shorter than its saved offset" in caplog.text


async def test_a_csv_row_without_a_final_newline_is_read(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "people.csv"
    path.write_text(PEOPLE_CSV.rstrip("\n"))
    source = make_source(**people_stream())
    first = await read_all(source)
    assert [r.record_id for r in first.records] == ["1", "2", "3"]
    with path.open("a") as f:
        f.write("\n4,dee@example.com,Dee,Oslo\n")
    assert [r.record_id for r in (await read_all(source, state=first.state)).records] == ["4"]


async def test_an_unfinished_json_line_waits_for_the_writer(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "e.jsonl"
    whole = json.dumps(track(2))
    path.write_text(jsonl(track(1)) + whole[:10])
    source = make_source(path="e.jsonl", kind="event")
    first = await read_all(source)
    assert ns(first) == [1]
    assert source.errors == []
    with path.open("a") as f:
        f.write(whole[10:] + "\n")
    second = await read_all(source, state=first.state)
    assert ns(second) == [2]


async def test_a_complete_last_line_without_newline_is_read(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "e.jsonl"
    path.write_text(jsonl(track(1)) + json.dumps(track(2)))
    source = make_source(path="e.jsonl", kind="event")
    first = await read_all(source)
    assert ns(first) == [1, 2]
    with path.open("a") as f:
        f.write("\n" + json.dumps(track(3)) + "\n")
    assert ns(await read_all(source, state=first.state)) == [3]


async def test_csv_quoted_newlines_bom_and_resume_after_the_header(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "people.csv"
    text = '\ufeffid,email,first_name\r\n1,ada@example.com,"Ada\r\nLovelace"\r\n'
    path.write_bytes(text.encode())
    source = make_source(
        checkpoint_every=1,
        path="people.csv",
        kind="person",
        identifiers={"email": "email"},
        mapping={"first_name": "name"},
    )
    first = await read_all(source)
    assert [r.data.name for r in first.records] == ["Ada\r\nLovelace"]
    with path.open("ab") as f:
        f.write(b"2,bob@example.com,Bob\r\n")
    second = await read_all(source, state=first.state)
    assert [r.data.name for r in second.records] == ["Bob"]


async def test_csv_header_only_then_rows(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "people.csv"
    path.write_text("id,email,first_name,city\n")
    source = make_source(**people_stream())
    first = await read_all(source)
    assert first.records == []
    path.write_text(PEOPLE_CSV)
    assert len((await read_all(source, state=first.state)).records) == 3


async def test_missing_files_yield_nothing(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    assert (await read_all(make_source(path="nothing-*.jsonl", kind="event"))).items == []


async def test_streams_lists_every_configured_stream() -> None:
    config = FilesSourceConfig(
        streams=[
            {"name": "customers", **people_stream()},
            {"name": "orders", "path": "data/orders-*.jsonl", "kind": "event"},
        ]
    )
    streams = await FilesSource(config).streams()
    assert streams == [
        Stream(
            name="customers",
            kind="person",
            incremental=True,
            description="csv files matching people.csv",
        ),
        Stream(
            name="orders",
            kind="event",
            incremental=True,
            description="jsonl files matching data/orders-*.jsonl",
        ),
    ]


async def test_unknown_stream_and_malformed_state_are_config_errors(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    source = make_source(**people_stream())
    with pytest.raises(ConfigError, match="no stream named 'nope'"):
        await read_all(source, stream="nope")
    with pytest.raises(ConfigError, match="byte offset"):
        await read_all(source, state={"files": {"people.csv": "x"}})


async def test_a_read_can_stop_early(
    workdir: Path, make_source: Callable[..., FilesSource]
) -> None:
    (workdir / "e.jsonl").write_text(jsonl(*(track(n) for n in range(10))))
    source = make_source(checkpoint_every=2, path="e.jsonl", kind="event")
    stream = source.read("s", None)
    first = await anext(stream)
    await stream.aclose()
    assert first.data.properties == {"n": 0}
