"""ModifiedSince: an incremental read by last-modified time skips what the last run read at
its boundary time, yields a page served twice once, and starts the next run at the newest
time seen."""

from __future__ import annotations

from spokehub_contracts import ModifiedSince

T1, T2, T3 = "2026-03-02T09:00:00Z", "2026-03-02T09:00:01Z", "2026-03-02T09:00:02Z"


def _fresh(read: ModifiedSince, *records: tuple[str, str | None]) -> list[str]:
    kept = [i for i, at in records if read.fresh(i, at, (i, at))]
    read.page_read()
    return kept


def test_a_first_run_keeps_everything_and_ends_at_the_newest_time() -> None:
    read = ModifiedSince()
    assert _fresh(read, ("1", T1), ("2", T2), ("3", T2), ("4", None)) == ["1", "2", "3", "4"]
    assert read.next_run_state("after") == {"since": T2, "boundary": ["2", "3"], "after": None}


def test_the_boundary_is_skipped_unless_changed() -> None:
    read = ModifiedSince(T2, ["2", "3"])
    # 3 again at the boundary time (unchanged), 5 new at it, 2 changed later.
    assert _fresh(read, ("3", T2), ("5", T2), ("2", T3)) == ["5", "2"]
    assert read.next_run_state("cursor") == {"since": T3, "boundary": ["2"], "cursor": None}


def test_nothing_new_keeps_the_start_and_its_boundary() -> None:
    read = ModifiedSince(T2, ["2", "3"])
    assert _fresh(read, ("2", T2), ("3", T2)) == []
    assert read.next_run_state("after") == {"since": T2, "boundary": ["2", "3"], "after": None}


def test_a_page_served_again_is_yielded_once_and_three_pages_on_again() -> None:
    read = ModifiedSince()
    assert _fresh(read, ("1", T1)) == ["1"]
    assert _fresh(read, ("1", T1), ("2", T1)) == ["2"]
    assert _fresh(read, ("3", T1)) == ["3"]
    assert _fresh(read, ("4", T1)) == ["4"]
    # Out of the last two pages' keys: a vendor's third repeat is read again.
    assert _fresh(read, ("1", T1)) == ["1"]


def test_a_resumed_read_keeps_what_the_pages_before_found() -> None:
    read = ModifiedSince(T1, ["1"], newest=T2, newest_ids=["7"])
    state = read.resume_state("after", "200")
    assert state == {
        "since": T1,
        "boundary": ["1"],
        "after": "200",
        "newest": T2,
        "newest_ids": ["7"],
    }
    assert _fresh(read, ("8", T2)) == ["8"]
    assert read.next_run_state("after")["boundary"] == ["7", "8"]


def test_restarting_from_the_newest_makes_its_records_the_boundary() -> None:
    read = ModifiedSince(T1)
    _fresh(read, ("1", T2), ("2", T2))
    read.restart_from_newest()
    assert (read.since, read.boundary) == (T2, {"1", "2"})
    assert _fresh(read, ("1", T2), ("3", T3)) == ["3"]
