"""Bad rows: skipped, reported with file, line, field and rule, never with the value."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spokehub_files import FilesSource, RowError

SECRET_EMAIL = "secret.person@@example.com"
SECRET_DATE = "1990-13-45"

CSV = (
    "id,email,first_name,dob\n"
    "1,ada@example.com,Ada,1990-01-02\n"
    f"2,{SECRET_EMAIL},Bob,1991-02-03\n"
    f"3,cy@example.com,Cy,{SECRET_DATE}\n"
    "4,dee@example.com,Dee,1992-03-04,surplus\n"
    "5,eve@example.com,Eve,1993-04-05\n"
)


def csv_source(make_source: Callable[..., FilesSource], **extra: Any) -> FilesSource:
    return make_source(
        path="people.csv",
        kind="person",
        identifiers={"email": "email", "id": "user_id"},
        mapping={"dob": "birthday"},
        record_id="id",
        **extra,
    )


def assert_no_raw_values(text: str) -> None:
    for secret in (SECRET_EMAIL, "secret.person", SECRET_DATE, "surplus", "Bob"):
        assert secret not in text


async def test_bad_rows_are_reported_and_good_rows_still_flow(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    (workdir / "people.csv").write_text(CSV)
    source = csv_source(make_source)
    run = await read_all(source)
    assert [r.record_id for r in run.records] == ["1", "5"]
    assert [(e.path, e.line, e.field, e.column) for e in source.errors] == [
        ("people.csv", 3, "email", "email"),
        ("people.csv", 4, "birthday", "dob"),
        ("people.csv", 5, "(row)", None),
    ]
    assert all(e.stream == "s" for e in source.errors)
    assert source.errors[0].rule == "identifier email: is not a valid e-mail address"
    assert "valid date" in source.errors[1].rule
    assert source.errors[2].rule == "has 5 values but the header has 4 columns"
    assert str(source.errors[1]).startswith("people.csv, line 4: birthday (column 'dob'): ")
    for error in source.errors:
        assert_no_raw_values(str(error))
        assert_no_raw_values(repr(error))


async def test_bad_rows_are_yielded_for_the_hub_to_quarantine(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    (workdir / "people.csv").write_text(CSV)
    run = await read_all(csv_source(make_source))
    rejected = run.rejected
    assert [(r.location, r.field) for r in rejected] == [
        ("people.csv:3", "email"),
        ("people.csv:4", "birthday"),
        ("people.csv:5", "(row)"),
    ]
    # The row itself travels for replay; the reason never quotes it.
    assert rejected[0].raw is not None and rejected[0].raw["email"] == SECRET_EMAIL
    for r in rejected:
        assert_no_raw_values(r.rule)


async def test_the_checkpoint_moves_past_bad_rows(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "people.csv"
    path.write_text(CSV)
    source = csv_source(make_source)
    run = await read_all(source)
    assert run.state == {"files": {"people.csv": path.stat().st_size}}
    source.errors.clear()
    assert (await read_all(source, state=run.state)).items == []
    assert source.errors == []


async def test_a_file_of_bad_rows_still_yields_its_checkpoint(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "people.csv"
    path.write_text(f"id,email\n1,{SECRET_EMAIL}\n")
    source = make_source(path="people.csv", kind="person", identifiers={"email": "email"})
    run = await read_all(source)
    assert run.records == []
    assert run.state == {"files": {"people.csv": path.stat().st_size}}
    assert [e.line for e in source.errors] == [2]


async def test_line_numbers_are_right_after_a_resume(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "people.csv"
    path.write_text(CSV.split("2,")[0])
    source = csv_source(make_source)
    first = await read_all(source)
    path.write_text(CSV)
    await read_all(source, state=first.state)
    assert [e.line for e in source.errors] == [3, 4, 5]


async def test_bad_json_lines(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    good = {"type": "track", "event": "Signed Up", "userId": "u1"}
    lines = [
        json.dumps(good),
        '{"type": "track", "userId": "' + SECRET_EMAIL + '", ',
        json.dumps([SECRET_EMAIL]),
        json.dumps({"type": "track", "userId": "u2"}),
        json.dumps({**good, "timestamp": SECRET_DATE}),
        json.dumps({**good, "userId": "u3"}),
    ]
    (workdir / "e.jsonl").write_text("\n".join(lines) + "\n")
    source = make_source(path="e.jsonl", kind="event")
    run = await read_all(source)
    assert [r.data.user_id for r in run.records] == ["u1", "u3"]
    assert [(e.line, e.field) for e in source.errors] == [
        (2, "(line)"),
        (3, "(line)"),
        (4, "(record)"),
        (5, "timestamp"),
    ]
    assert source.errors[0].rule.startswith("is not valid JSON")
    assert source.errors[1].rule == "must be a JSON object"
    assert source.errors[2].rule == "event is required for a track call"
    for error in source.errors:
        assert_no_raw_values(str(error))


async def test_invalid_utf8_is_reported_by_line(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    path = workdir / "people.csv"
    path.write_bytes(b"id,email\n1,ada@example.com\n2,b\xff@example.com\n3,cy@example.com\n")
    source = make_source(path="people.csv", kind="person", identifiers={"email": "email"})
    run = await read_all(source)
    assert len(run.records) == 2
    assert [(e.line, e.field, e.rule) for e in source.errors] == [
        (3, "(row)", "is not valid UTF-8")
    ]


async def test_a_duplicate_header_stops_the_file_and_names_the_column(
    workdir: Path, make_source: Callable[..., FilesSource], read_all: Any
) -> None:
    (workdir / "people.csv").write_text("id,email,email\n1,a@example.com,b@example.com\n")
    source = make_source(path="people.csv", kind="person", identifiers={"email": "email"})
    run = await read_all(source)
    assert run.items == []
    assert [(e.line, e.field, e.rule) for e in source.errors] == [
        (1, "(header)", "column 'email' appears more than once")
    ]


async def test_bad_rows_are_logged_without_their_values(
    workdir: Path,
    make_source: Callable[..., FilesSource],
    read_all: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (workdir / "people.csv").write_text(CSV)
    with caplog.at_level(logging.WARNING, logger="spokehub_files"):
        await read_all(csv_source(make_source))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "people.csv, line 3: email" in messages[0]
    for message in messages:
        assert_no_raw_values(message)


def test_row_error_text() -> None:
    error = RowError("s", "a.csv", 7, "birthday", "must be a date", column="dob")
    assert str(error) == "a.csv, line 7: birthday (column 'dob'): must be a date"
    assert (
        str(RowError("s", "a.csv", 7, "email", "bad", column="email"))
        == "a.csv, line 7: email: bad"
    )
