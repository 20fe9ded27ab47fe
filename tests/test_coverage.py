"""Agent time per UTC day (history/coverage.py), figures worked out by hand."""

from __future__ import annotations

from wallboard.history.calls import Interval
from wallboard.history.coverage import DAY, backfill_rows, cover, day_rows, touched_days

AGENT = "Agent/1"


def test_overlapping_sessions_and_pauses_count_once():
    sessions = [(100, 500), (300, 700)]  # logged in to two queues: 100..700 = 600 s
    pauses = [(200, 250), (200, 260), (800, 900)]  # a PAUSEALL in two queues, one pause after
    assert cover(sessions, pauses, 0, DAY) == (600, 160, 60, 2)


def test_clipped_to_the_day():
    assert cover([(DAY - 100, DAY + 50)], [(DAY - 10, DAY + 10)], 0, DAY) == (100, 10, 10, 1)
    # The pause started the day before: its time counts here, its start does not.
    assert cover([(DAY - 100, DAY + 50)], [(DAY - 10, DAY + 10)], DAY, 2 * DAY) == (50, 10, 10, 0)


def rows(*intervals: tuple[str, int, int | None]) -> list[tuple]:
    return [(AGENT, kind, start, end) for kind, start, end in intervals]


def test_a_day_with_an_open_interval_has_no_row():
    stored = rows(("session", 100, DAY + 50), ("session", DAY + 100, None), ("pause", 200, 300))
    touched = touched_days([Interval("session", AGENT, "q", DAY + 100)])
    assert touched == {AGENT: {1}}
    assert day_rows(touched, stored) == ([], [(1, AGENT)])
    assert backfill_rows(stored) == [(0, AGENT, DAY - 100, 100, 100, 1)]


def test_a_closed_interval_touches_every_day_it_spans():
    touched = touched_days([Interval("session", AGENT, "q", 100, 2 * DAY + 5)])
    assert touched == {AGENT: {0, 1, 2}}
    stored = rows(("session", 100, 2 * DAY + 5))
    upserts, deletes = day_rows(touched, stored)
    assert upserts == [(0, AGENT, DAY - 100, 0, 0, 0), (1, AGENT, DAY, 0, 0, 0),
                       (2, AGENT, 5, 0, 0, 0)]  # fmt: skip
    assert deletes == []


def test_other_agents_rows_are_left_alone():
    stored = rows(("session", 100, 200)) + [("Agent/2", "session", 100, 900)]
    upserts, _ = day_rows({AGENT: {0}}, stored)
    assert upserts == [(0, AGENT, 100, 0, 0, 0)]
