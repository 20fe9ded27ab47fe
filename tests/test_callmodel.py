"""The call model's Python predicates and its SQL expressions agree on every outcome, with and
without a connect, inside and outside the service level (SQLite, and PostgreSQL under CI)."""

from __future__ import annotations

import itertools
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from wallboard.history import callmodel as cm
from wallboard.history.store import open_store

OUTCOMES = [None, cm.CONNECT, cm.STALE, *sorted(cm.ANSWERED_ENDS), *sorted(cm.UNANSWERED_ENDS),
            "SOMETHINGELSE"]  # fmt: skip
TARGETS = ["", "2000@default", "BRIDGE|1234-abcd", "APP|Dial", "LINK|a|b"]


def cases():
    for n, (outcome, connect, wait, target) in enumerate(
        itertools.product(OUTCOMES, (None, 1000), (None, 0, 20, 21), TARGETS), start=1
    ):
        yield n, outcome, connect, wait, target


def predicates(outcome, connect, wait, target) -> tuple:
    return (
        cm.is_answered(connect, outcome), cm.is_unanswered(connect, outcome),
        cm.is_abandoned(connect, outcome), cm.is_open(outcome), cm.is_transferred(outcome),
        cm.within_service_level(wait, 20), cm.transfer_target(outcome, target),
    )  # fmt: skip


def agree(url: str) -> None:
    store = open_store(url)
    rows = list(cases())
    store.write(lambda tx: tx.executemany(
        "INSERT INTO queue_calls (id, callid, queue, enter_time, connect_time, outcome,"
        " wait, target) VALUES (?, ?, 'q', 900, ?, ?, ?, ?)",
        [(n, f"c{n}", connect, outcome, wait, target) for n, outcome, connect, wait, target in rows],
    ))  # fmt: skip
    exprs = [cm.ANSWERED_SQL, cm.UNANSWERED_SQL, f"({cm.ABANDONED_SQL}) AND NOT {cm.ANSWERED_SQL}",
             cm.OPEN_SQL, cm.TRANSFERRED_SQL, cm.within_sql("20")]  # fmt: skip
    select = ", ".join(f"CASE WHEN {e} THEN 1 ELSE 0 END" for e in exprs)
    found = {
        row[0]: (*(bool(v) for v in row[1:-1]), row[-1])
        for row in store.query(
            f"SELECT id, {select}, COALESCE({cm.TRANSFER_TO_SQL}, '') FROM queue_calls"
        )
    }
    for n, outcome, connect, wait, target in rows:
        python = predicates(outcome, connect, wait, target)
        sql = found[n]
        assert sql[:-1] == python[:-1], (outcome, connect, wait)
        if cm.is_transferred(outcome):
            assert sql[-1] == python[-1], (outcome, target)
    assert not any(cm.is_answered(c, o) and cm.is_unanswered(c, o) for _, o, c, _, _ in rows)
    store.close()


def test_sqlite_and_python_agree(tmp_path) -> None:
    agree(str(tmp_path / "w.db"))


@pytest.mark.postgres
def test_postgresql_and_python_agree(pg_url) -> None:
    agree(pg_url)


def test_days_run_midnight_to_midnight_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    start, end = cm.day_bounds(date(2026, 3, 29), date(2026, 3, 29), paris)
    assert end - start == 23 * 3600  # the spring-forward day is 23 hours long
    assert cm.today_bounds(start + 3600, paris) == (start, end)
    assert cm.percent(1, 3) == "33.33" and cm.average(25, 2) == "13" and cm.average(1, 0) == "0"
