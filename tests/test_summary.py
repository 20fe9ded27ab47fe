"""The hourly summaries: what closed calls add to them, and every report giving exactly the same
rows through them as through the raw tables (hand-written and synthetic data, several users,
ranges, windows and timezones)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from bench.synth import DEFAULT_START, generate
from tests.test_reports import DAY_ONE, DAY_TWO, D, at, line
from wallboard.auth import User
from wallboard.config import Settings
from wallboard.history import coverage
from wallboard.history.calls import QueueCall
from wallboard.history.ingest import import_files
from wallboard.history.reports import (
    CATALOGUE,
    DAY,
    REPORTS,
    ReportParams,
    make_scope,
    narrowed,
    render,
    run_report,
    slots_for,
    summarised_for,
    whole_hours,
)
from wallboard.history.reports import entities as entities_module
from wallboard.history.reports import runner as runner_module
from wallboard.history.store import Store, open_store
from wallboard.history.summary import (
    AGENT_BACKFILL,
    DAY_BACKFILL,
    QUEUE_BACKFILL,
    QUEUE_SUMS,
    VALUE_SUMMARIES,
    day_rows,
    summary_rows,
    value_days_backfill,
    value_hours_backfill,
    value_rows,
)

ADMIN = User("admin", admin=True)
NOW = D + 3 * DAY

# Still open when the file ends: c10 waits in support, c11 talks to Bob in sales.
OPEN_CALLS = [
    line(at(18, day=1), "c10", "support", "NONE", "ENTERQUEUE", "", "5550010", "1"),
    line(at(18, 1, day=1), "c11", "sales", "NONE", "ENTERQUEUE", "", "5550011", "1"),
    line(at(18, 1, 12, day=1), "c11", "sales", "Bob", "CONNECT", "12", "c11.b", "2"),
]


def call(ident: int, enter: int, outcome: str | None, **more: object) -> QueueCall:
    return QueueCall(ident, f"c{ident}", "sales", enter, outcome=outcome, **more)  # type: ignore[arg-type]


def test_summary_rows_add_closed_calls_only():
    hour = 500_000
    calls = [
        call(1, hour * 3600 + 10, "COMPLETECALLER", connect_time=1, agent="A", wait=4, talk=60),
        call(2, hour * 3600 + 20, "COMPLETECALLER", connect_time=1, agent="A", wait=21, talk=None),
        call(3, hour * 3600 + 30, "ABANDON", wait=None),
        call(4, hour * 3600 + 40, "CONNECT", connect_time=1, agent="A", wait=3),  # talking
        call(5, hour * 3600 + 50, None),  # waiting
        call(6, (hour + 1) * 3600, "STALE", connect_time=1, agent="B", wait=200, talk=9),
        call(7, (hour + 1) * 3600 + 5, "STALE", wait=7),  # never connected: unanswered
    ]
    queue_rows, agent_rows = summary_rows(calls)
    rows = {row[:2]: dict(zip(QUEUE_SUMS, row[2:], strict=True)) for row in queue_rows}
    assert set(rows) == {(hour, "sales"), (hour + 1, "sales")}
    first, second = rows[(hour, "sales")], rows[(hour + 1, "sales")]
    assert {k: v for k, v in first.items() if v and not k[3:].isdigit()} == {
        "calls": 3,
        "a_calls": 2, "a_wait_sum": 25, "a_wait_n": 2, "a_talk_sum": 60, "a_talk_n": 1,
        "a_completecaller": 2,
        "u_calls": 1, "u_abandon": 1,
    }  # fmt: skip
    assert [first[f"a_w{s}"] for s in (5, 10, 15, 20, 25, 120)] == [1, 1, 1, 1, 2, 2]
    assert [first[f"u_w{s}"] for s in (5, 120)] == [1, 1]  # no wait counts as 0
    assert (second["a_stale"], second["u_stale"], second["a_w120"], second["u_w5"]) == (1, 1, 0, 0)
    assert (second["u_w10"], second["calls"]) == (1, 2)
    assert sorted(agent_rows) == [(hour, "sales", "A", 2, 25, 2, 60, 1),
                                  (hour + 1, "sales", "B", 1, 200, 1, 9, 1)]  # fmt: skip
    later = [(hour + 2, "sales", "A", 1, 3, 1, 5, 1), (hour + 30, "sales", "A", 1, 1, 1, 1, 1)]
    day = hour // 24  # 500_000 is hour 8 of its day: hours +2 and +30 fall on two days
    assert sorted(day_rows(agent_rows + later)) == [
        (day, "sales", "A", 3, 28, 3, 65, 2),
        (day, "sales", "B", 1, 200, 1, 9, 1),
        (day + 1, "sales", "A", 1, 1, 1, 1, 1),
    ]


def test_whole_hours():
    utc, kolkata = ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")
    params = ReportParams(date(2024, 3, 5), date(2024, 3, 6))
    assert whole_hours(make_scope(params, utc, None, None))
    assert not whole_hours(make_scope(params, kolkata, None, None))  # +05:30
    windowed = ReportParams(date(2024, 3, 5), date(2024, 3, 6), 9 * 3600, 17 * 3600)
    assert whole_hours(make_scope(windowed, utc, None, None))
    half = ReportParams(date(2024, 3, 5), date(2024, 3, 6), 9 * 3600 + 1800, 17 * 3600)
    assert not whole_hours(make_scope(half, utc, None, None))
    # New York's 2024 spring change (07:00 UTC) is on a whole hour.
    dst = ReportParams(date(2024, 3, 9), date(2024, 3, 11))
    scope = make_scope(dst, ZoneInfo("America/New_York"), None, None)
    assert len(scope.offsets) == 2 and whole_hours(scope)


def ingest_again_matches_backfill(store: Store) -> None:
    """The summaries built batch by batch at ingest equal the migration's backfill."""
    tables = {
        "queue_hours": "hour, queue",
        "agent_hours": "hour, queue, agent",
        "agent_days": "day, queue, agent",
    }
    built = {t: store.query(f"SELECT * FROM {t} ORDER BY {k}") for t, k in tables.items()}
    store.execute("DELETE FROM queue_hours")
    store.execute("DELETE FROM agent_hours")
    store.execute("DELETE FROM agent_days")
    store.execute(QUEUE_BACKFILL)
    store.execute(AGENT_BACKFILL)
    store.execute(DAY_BACKFILL)
    for summary in VALUE_SUMMARIES:
        for table, key in ((f"{summary.name}_hours", summary.hour_key),
                           (f"{summary.name}_days", summary.day_key)):  # fmt: skip
            built[table] = store.query(f"SELECT * FROM {table} ORDER BY {', '.join(key)}")
            assert built[table], table  # the data has urls, dids and transfers
            store.execute(f"DELETE FROM {table}")
            tables[table] = ", ".join(key)
        store.execute(value_hours_backfill(summary))
        store.execute(value_days_backfill(summary))
    for table, key in tables.items():
        assert store.query(f"SELECT * FROM {table} ORDER BY {key}") == built[table], table
    cover = store.query("SELECT * FROM agent_cover_days ORDER BY day, agent")
    assert cover  # agents logged in on these days
    intervals = store.query("SELECT agent, kind, start_time, end_time FROM agent_intervals")
    assert sorted(coverage.backfill_rows(intervals)) == cover


def both_paths(
    store: Store, settings: Settings, params: ReportParams, users: list[User]
) -> int:
    """Every report, every user: summaries and raw tables agree; the count of summarised runs."""
    summarised = 0
    tz = ZoneInfo(settings.timezone)
    for report in CATALOGUE:
        for user in users:
            for page in (1, 2) if report.paged else (1,):
                paged = replace(params, page=page, rows=3)
                asked = paged if report.paged else params
                fast = run_report(store, settings, report.name, asked, user)
                raw = run_report(store, settings, report.name, asked, user, summaries=False)
                assert fast == raw, (report.name, user.name, params, settings.timezone)
            scope = make_scope(params, tz, None, tuple(user.agents) or None)
            if summarised_for(report.name, scope, settings.service_levels, settings.service_level):
                summarised += 1
    return summarised


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Store:
    directory = tmp_path_factory.mktemp("summary-small")
    log = directory / "queue_log"
    log.write_text("".join(DAY_ONE + DAY_TWO + OPEN_CALLS))
    store = open_store(str(directory / "wallboard.db"))
    import_files(store, [log])
    yield store
    store.close()


SMALL_USERS = [
    ADMIN,
    User("sup", queues=frozenset({"support"})),
    User("alice", agents=frozenset({"Alice"})),
    User("bob", queues=frozenset({"sales"}), agents=frozenset({"Bob"})),
]
WINDOWS = [(0, DAY), (9 * 3600, 15 * 3600), (14 * 3600, 10 * 3600), (9 * 3600 + 300, DAY)]


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
@pytest.mark.parametrize("thresholds", [{"sales": 30}, {}, {"support": 7}])
def test_hand_written_data_agrees(small, timezone, thresholds):
    settings = Settings(timezone=timezone, service_levels=thresholds)
    summarised = 0
    for start, end in (("2024-03-05", "2024-03-06"), ("2024-03-06", "2024-03-06")):
        for low, high in WINDOWS:
            params = ReportParams(
                date.fromisoformat(start), date.fromisoformat(end), low, high, now=NOW
            )
            summarised += both_paths(small, settings, params, SMALL_USERS)
    assert (summarised > 0) == (timezone != "Asia/Kolkata")


def test_hand_written_summaries_match_backfill(small):
    assert small.query_one("SELECT COUNT(*) FROM queue_hours")[0] > 0
    ingest_again_matches_backfill(small)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Three weeks of a 30-agent, 5-queue centre, imported in two parts (summaries grow)."""
    directory = tmp_path_factory.mktemp("summary-synth")
    log = directory / "queue_log"
    generate(log, agents=30, queues=5, days=21, seed=3)
    lines = log.read_text().splitlines(keepends=True)
    half = len(lines) // 2
    first, second = directory / "part1", directory / "part2"
    first.write_text("".join(lines[:half]))
    second.write_text("".join(lines[half:]))
    store = open_store(str(directory / "wallboard.db"))
    import_files(store, [first])
    import_files(store, [second])
    yield store
    store.close()


def test_synthetic_data_agrees(synthetic):
    queues = [q for (q,) in synthetic.query("SELECT name FROM queues ORDER BY name")]
    agents = [a for (a,) in synthetic.query("SELECT name FROM agents ORDER BY name")]
    users = [
        ADMIN,
        User("sup", queues=frozenset(queues[:2])),
        User("agents", agents=frozenset(agents[:3])),
    ]
    now = int(synthetic.query_one("SELECT MAX(last_time) FROM queue_log_blocks")[0])
    ranges = [
        (DEFAULT_START, DEFAULT_START + timedelta(days=20)),
        (DEFAULT_START + timedelta(days=9), DEFAULT_START + timedelta(days=9)),
    ]
    cases = [
        ("UTC", {}, (0, DAY)),
        ("Europe/Paris", {queues[0]: 30}, (8 * 3600, 18 * 3600)),
        ("America/New_York", {}, (20 * 3600, 7 * 3600)),
        ("UTC", {queues[1]: 12}, (9 * 3600, 9 * 3600 + 1)),  # a threshold and window off-grid
    ]
    summarised = 0
    for timezone, thresholds, (low, high) in cases:
        settings = Settings(timezone=timezone, service_levels=thresholds)
        for start, end in ranges:
            params = ReportParams(start, end, low, high, now=now)
            summarised += both_paths(synthetic, settings, params, users)
    assert summarised > 0


def test_synthetic_summaries_match_backfill(synthetic):
    ingest_again_matches_backfill(synthetic)


def test_open_calls_are_not_in_the_summaries(small: Store):
    counted = small.query_one("SELECT SUM(calls) FROM queue_hours")[0]
    closed = small.query_one(
        "SELECT COUNT(*) FROM queue_calls WHERE outcome IS NOT NULL AND outcome <> 'CONNECT'"
    )[0]
    total = small.query_one("SELECT COUNT(*) FROM queue_calls")[0]
    assert counted == closed == total - 2


def test_value_rows_count_closed_calls_per_value():
    hour = 500_000  # hour 8 of its day
    calls = [
        call(1, hour * 3600, "COMPLETECALLER", connect_time=1, agent="A", url="u1", did="d1"),
        call(2, hour * 3600 + 9, "COMPLETEAGENT", connect_time=1, agent="A", url="u1", did=""),
        call(3, hour * 3600 + 20, "ABANDON", url="u1", did="d1"),  # unanswered: no url/did row
        call(4, hour * 3600 + 30, "CONNECT", connect_time=1, agent="A", url="u1"),  # talking
        call(5, (hour + 1) * 3600, "BLINDTRANSFER", connect_time=1, agent="A", target="2000@x"),
        call(6, (hour + 1) * 3600, "ATTENDEDTRANSFER", connect_time=1, agent="A", target="B1"),
        call(7, (hour + 2) * 3600, "ATTENDEDTRANSFER", connect_time=1, agent="A", target="APP|x"),
    ]
    rows = value_rows(calls)
    day = hour // 24
    assert sorted(rows["url"][0]) == [(hour, "sales", "u1", 2), (hour + 1, "sales", "", 2),
                                      (hour + 2, "sales", "", 1)]  # fmt: skip
    assert sorted(rows["url"][1]) == [(day, "sales", "", 3), (day, "sales", "u1", 2)]
    assert sorted(rows["did"][1]) == [(day, "sales", "", 4), (day, "sales", "d1", 1)]
    assert sorted(rows["transfer"][0]) == [
        (hour + 1, "sales", "A", "2000@x", 1),
        (hour + 1, "sales", "A", "attended", 1),
        (hour + 2, "sales", "A", "APP|x", 1),
    ]


@pytest.mark.parametrize(
    ("report", "indexes"),
    [
        ("unanswered_calls_detail", (None, "queue_calls_unanswered")),
        ("agent_pauses", ("agent_intervals_pauses", None)),
        ("agent_sessions", ("agent_intervals_sessions", "agent_intervals_pauses", None)),
    ],
)
def test_raw_reads_use_their_partial_indexes(synthetic: Store, report: str, indexes: tuple):
    """The partial indexes' conditions are the queries' own terms, so SQLite plans through them
    (a query edited apart from its index would silently read the whole time range)."""
    params = ReportParams(date(2024, 3, 1), date(2024, 3, 31), now=NOW)
    scope = make_scope(params, ZoneInfo("UTC"), ("sales",), None)
    slots = slots_for(scope, {}, 20)
    for template, index in zip(REPORTS[report].queries, indexes, strict=True):
        if index is None:
            continue
        sql, values = render(template, narrowed(template, slots, scope))
        plan = " ".join(row[-1] for row in synthetic.query("EXPLAIN QUERY PLAN " + sql, values))
        assert index in plan, plan


@pytest.fixture(scope="module")
def still_logged_in(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A week of a small centre (Asterisk restarts nightly) where, at the end, agents are still
    logged in or paused: one since the last restart, one for the last hours, paused since."""
    directory = tmp_path_factory.mktemp("summary-open")
    log = directory / "queue_log"
    generate(log, agents=8, queues=3, days=7, seed=5)
    lines = log.read_text().splitlines(keepends=True)
    last = int(lines[-1].split("|")[0])
    restart = max(n for n, line in enumerate(lines) if "|QUEUESTART|" in line)
    lines.insert(restart + 1, f"{int(lines[restart][:10]) + 60}|MANAGER|{QUEUE}|PJSIP/9999|ADDMEMBER|\n")
    lines += [
        f"{last - 5000}|MANAGER|{QUEUE}|PJSIP/9998|ADDMEMBER|\n",
        f"{last - 4000}|NONE|{QUEUE}|PJSIP/9998|PAUSE|Lunch\n",
        f"{last - 3000}|NONE|{QUEUE}|PJSIP/9999|PAUSE|Break\n",
        f"{last - 2000}|NONE|{QUEUE}|PJSIP/9999|UNPAUSE|Break\n",
    ]
    log.write_text("".join(lines))
    store = open_store(str(directory / "wallboard.db"))
    import_files(store, [log])
    yield store
    store.close()


QUEUE = "5001"


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris", "America/New_York"])
def test_agent_sessions_by_day_agrees_with_the_raw_intervals(still_logged_in, timezone, monkeypatch):
    """agent_sessions reads agent_cover_days for whole UTC days, raw intervals around them and
    for agents still logged in; it equals the raw report, and is really taken."""
    answered = []
    by_day = runner_module.agent_sessions_by_day

    def spy(*args):
        rows = by_day(*args)
        answered.append(rows is not None)
        return rows

    monkeypatch.setattr(runner_module, "agent_sessions_by_day", spy)
    synthetic = still_logged_in
    last = int(synthetic.query_one("SELECT MAX(last_time) FROM queue_log_blocks")[0])
    agents = [a for (a,) in synthetic.query("SELECT name FROM agents ORDER BY name")]
    settings = Settings(timezone=timezone)
    for start, days in ((DEFAULT_START, 7), (DEFAULT_START + timedelta(days=2), 3),
                        (DEFAULT_START + timedelta(days=6), 0)):  # fmt: skip
        for now in (last, last + 7200):  # open intervals end now
            params = ReportParams(start, start + timedelta(days=days), now=now)
            for user in (ADMIN, User("two", agents=frozenset(agents[:2]))):
                fast = run_report(synthetic, settings, "agent_sessions", params, user)
                raw = run_report(synthetic, settings, "agent_sessions", params, user, summaries=False)
                assert fast == raw and fast.rows, (timezone, start, days, now, user.name)
    # Local days off the UTC grid hold fewer whole UTC days: a one-day range may have none.
    assert all(answered) if timezone == "UTC" else any(answered)
    still_open = synthetic.query("SELECT agent FROM agent_intervals WHERE end_time IS NULL")
    assert {"PJSIP/9999", "PJSIP/9998"} <= {agent for (agent,) in still_open}
    ingest_again_matches_backfill(synthetic)


def test_search_pages_follow_first_stays(synthetic):
    """search reads stays in (enter_time, callid) order in chunks; its pages equal grouping
    every stay by callid and ordering by the first one, across chunk edges."""
    match, params = "enter_time >= ? AND enter_time < ?", [0, 1 << 40]
    grouped = [
        callid
        for callid, _ in synthetic.query(
            f"SELECT callid, MIN(enter_time) FROM queue_calls WHERE {match}"
            " GROUP BY callid ORDER BY 2, 1",
            params,
        )
    ]
    assert len(grouped) > 3000
    for offset, count in ((0, 10), (995, 10), (1990, 25), (len(grouped) - 3, 10)):
        page = entities_module._first_callids(synthetic, match, params, offset, count)
        assert page == grouped[offset : offset + count], (offset, count)
