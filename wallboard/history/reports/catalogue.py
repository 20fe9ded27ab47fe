"""The report catalogue (reports.md): one declarative definition per report. No I/O.

A definition holds its columns (once), its SQL (portable, `?` placeholders, `{slot}`s the
runner fills with the request's filters), the shape that turns result sets into rows, and the
same report through the summaries kept at ingest (history/summary.py) when they can answer it.
Adding a report is adding a definition here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wallboard.history.callmodel import (
    ABANDON_UNKNOWN_SQL,
    ABANDONED_SQL,
    ANSWERED_SQL,
    TRANSFER_TO_SQL,
    TRANSFERRED_SQL,
    UNANSWERED_SQL,
    within_sql,
)
from wallboard.history.reports import shapes
from wallboard.history.reports.shapes import HOLDTIME_LIMITS, PERIODS, Shape
from wallboard.history.reports.sql import sum_sql as _sum
from wallboard.history.summary import ANSWERED_OUTCOMES, UNANSWERED_OUTCOMES

Adapt = Callable[[list[list[tuple]]], list[list[tuple]]]


@dataclass(frozen=True)
class Summarised:
    """A report's queries over the summaries: None keeps the raw query at that place; `adapt`
    turns the result sets into those the raw queries give; `by_agent` reads agent_hours (which
    answers agent-restricted scopes), else queue_hours (which does not); `by_day`: agent time
    read from agent_cover_days by the runner (history/reports/runner.py)."""

    queries: tuple[str | None, ...]
    adapt: Adapt | None = None
    by_agent: bool = False
    thresholds: bool = False  # needs every service-level threshold among the stored wait steps
    by_day: bool = False


@dataclass(frozen=True)
class Report:
    """One report: its columns, SQL templates, shaping and summarised form.

    Paged reports have two queries, a count and the rows (ORDER BY included, LIMIT added by the
    runner); the others have any number, whose result sets `shape` turns into every row.
    """

    name: str
    columns: tuple[str, ...]
    queries: tuple[str, ...]
    shape: Shape
    paged: bool = False
    summarised: Summarised | None = None


_CALLS = "FROM queue_calls WHERE {calls}"
_HOURS = "FROM {hours}"
ANSWERED = ANSWERED_SQL
UNANSWERED = UNANSWERED_SQL
_BUCKET_SQL = (
    "CASE "
    + " ".join(
        f"WHEN COALESCE(wait, 0) <= {limit} THEN {n}" for n, limit in enumerate(HOLDTIME_LIMITS)
    )
    + f" ELSE {len(HOLDTIME_LIMITS)} END"
)


def _holdtime_buckets(results: list[list[tuple]]) -> list[list[tuple]]:
    """Cumulative counts (≤15 ... ≤90, all) → (bucket, count) rows as the raw query groups them."""
    (*cumulative, total), = results[0]
    if total is None:
        return [[]]
    rows, below = [], 0
    for bucket, count in enumerate([*cumulative, total]):
        if count - below:
            rows.append((bucket, count - below))
        below = count
    return [rows]


def _by_outcome(outcomes: tuple[str, ...]) -> Adapt:
    """Per-outcome sums (one row) → (outcome, count) rows as the raw query groups and orders them."""

    def adapt(results: list[list[tuple]]) -> list[list[tuple]]:
        (counts,) = results[0]
        rows = [(o, n) for o, n in zip(outcomes, counts, strict=True) if n]
        return [sorted(rows, key=lambda row: (-row[1], row[0]))]

    return adapt


def _outcome_sums(side: str, outcomes: tuple[str, ...]) -> str:
    return "SELECT " + ", ".join(_sum(f"{side}_{o.lower()}") for o in outcomes) + " FROM {hours}"


def _count_by(name: str, label: str, count: str, share: str, raw: str, summary: str) -> Report:
    """A report of (label, count, share) rows: answered calls by queue, url, did, ..."""
    return Report(name, (label, count, share), (raw,), shapes.count_share,
                  summarised=Summarised((summary,)))  # fmt: skip


def _detail(name: str, columns: tuple[str, ...], fields: str, side: str, shape: Shape) -> Report:
    """A paged list of answered (`side` "a") or unanswered ("u") calls, oldest first; the
    summaries give only its total."""
    condition = ANSWERED if side == "a" else UNANSWERED
    return Report(
        name, columns,
        (f"SELECT COUNT(*) {_CALLS} AND {condition}",
         f"SELECT {fields} {_CALLS} AND {condition} ORDER BY enter_time, id"),
        shape, paged=True,
        summarised=Summarised((f"SELECT COALESCE({_sum(side + '_calls')}, 0) {_HOURS}", None)),
    )  # fmt: skip


def _count(condition: str) -> str:
    """The number of calls in the group for which `condition` holds."""
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


# Talk and wait of answered calls, as (sum, count) pairs; NULLs counted out.
_ANSWERED_TALK_WAIT = (
    f"SUM(CASE WHEN {ANSWERED} AND talk IS NOT NULL THEN talk ELSE 0 END),"
    f" {_count(f'{ANSWERED} AND talk IS NOT NULL')},"
    f" SUM(CASE WHEN {ANSWERED} AND wait IS NOT NULL THEN wait ELSE 0 END),"
    f" {_count(f'{ANSWERED} AND wait IS NOT NULL')}"
)


_DISTRIBUTION_SQL = (
    "SELECT {local_enter} / 3600, COUNT(*),"
    f" {_count(ANSWERED)}, {_count(UNANSWERED)}, {_ANSWERED_TALK_WAIT}"
    f" {_CALLS} GROUP BY 1"
)
_LOGINS_SQL = (
    "SELECT {local_start} / 3600, COUNT(*) FROM agent_intervals"
    " WHERE {sessions} AND {logins} GROUP BY 1"
)
_LOGOFFS_SQL = (
    "SELECT {local_end} / 3600, COUNT(*) FROM agent_intervals"
    " WHERE {sessions} AND {logoffs} GROUP BY 1"
)
_DISTRIBUTION_SUMMARY = (
    f"SELECT {{local_hour}} / 3600, {_sum('calls')}, {_sum('a_calls')},"
    f" {_sum('u_calls')}, {_sum('a_talk_sum')}, {_sum('a_talk_n')},"
    f" {_sum('a_wait_sum')}, {_sum('a_wait_n')} {_HOURS} GROUP BY 1"
)


def _distribution(period: str) -> Report:
    return Report(
        f"distribution_by_{period}",
        ("Period", "Received", "Answered", "% Answered", "Unanswered", "% Unanswered",
         "Avg Call Time", "Avg Wait", "Logins", "Logoffs"),
        (_DISTRIBUTION_SQL, _LOGINS_SQL, _LOGOFFS_SQL),
        shapes.distribution(period),
        summarised=Summarised((_DISTRIBUTION_SUMMARY, None, None)),
    )  # fmt: skip


# Answered calls and talk per logged agent name (the runner folds names into agents).
SESSION_CALLS = (
    f"SELECT agent, {_sum('calls')}, {_sum('talk_sum')} FROM {{agent_hours}} GROUP BY agent"
)

CATALOGUE: tuple[Report, ...] = (
    _detail(
        "answered_calls_detail",
        ("datetime", "queue", "agent", "callerid", "event", "waitTime", "ringTime", "callTime",
         "agentName", "queueName", "recording", "uniqueid", "callflow", "url", "did"),
        "connect_time, queue, agent, callerid, outcome, wait, ring, talk, callid, url, did",
        "a", shapes.answered_detail,
    ),  # fmt: skip
    _count_by(
        "answered_calls_by_queue", "Queue", "Received", "% Calls",
        f"SELECT queue, COUNT(*) {_CALLS} AND {ANSWERED} GROUP BY queue ORDER BY queue",
        f"SELECT queue, {_sum('a_calls')} {_HOURS} GROUP BY queue HAVING SUM(a_calls) > 0"
        " ORDER BY queue",
    ),
    Report(
        "answered_calls_by_agent",
        ("Agent", "Calls", "% Calls", "Call Time", "% Call Time", "Avg Call Time", "Hold Time",
         "Avg Hold Time"),
        (
            "SELECT agent, COUNT(*), SUM(talk), COUNT(talk), SUM(wait), COUNT(wait)"
            f" {_CALLS} AND {ANSWERED} GROUP BY agent ORDER BY agent",
        ),
        shapes.by_agent,
        summarised=Summarised(
            (
                f"SELECT agent, {_sum('calls')}, {_sum('talk_sum')}, {_sum('talk_n')},"
                f" {_sum('wait_sum')}, {_sum('wait_n')} FROM {{agent_hours}}"
                " GROUP BY agent ORDER BY agent",
            ),
            by_agent=True,
        ),
    ),
    *(
        _count_by(
            f"answered_calls_by_{name}", label, "Calls", "% Calls",
            f"SELECT {name}, COUNT(*) {_CALLS} AND {ANSWERED} GROUP BY {name} ORDER BY {name}",
            f"SELECT {name}, {_sum('calls')} FROM {{{name}_hours}} GROUP BY 1 ORDER BY 1",
        )
        for name, label in (("url", "URL"), ("did", "DID"))
    ),
    Report(
        "answered_calls_by_holdtime",
        ("Answer", "Count", "Delta", "%"),
        (f"SELECT {_BUCKET_SQL}, COUNT(*) {_CALLS} AND {ANSWERED} GROUP BY 1",),
        shapes.by_holdtime,
        summarised=Summarised(
            (
                "SELECT "
                + ", ".join(_sum(f"a_w{limit}") for limit in HOLDTIME_LIMITS)
                + f", {_sum('a_calls')} {_HOURS}",
            ),
            _holdtime_buckets,
        ),
    ),
    Report(
        "answered_calls_by_event",
        ("Cause", "Count", "%"),
        (f"SELECT outcome, COUNT(*) {_CALLS} AND {ANSWERED} GROUP BY outcome ORDER BY 2 DESC, 1",),
        shapes.count_share,
        summarised=Summarised(
            (_outcome_sums("a", ANSWERED_OUTCOMES),), _by_outcome(ANSWERED_OUTCOMES)
        ),
    ),
    _detail(
        "unanswered_calls_detail",
        ("datetime", "queue", "callerid", "event", "waitTime", "position", "origPosition",
         "uniqueid", "callflow", "url", "did", "queueName", "agentName"),
        "COALESCE(end_time, enter_time), queue, callerid, outcome, wait, position, origpos,"
        " callid, url, did, agent",
        "u", shapes.unanswered_detail,
    ),  # fmt: skip
    Report(
        "unanswered_calls_by_queue",
        ("Queue", "Unanswered", "Abandoned", "% Calls", "Avg Wait", "Abandon Unknown"),
        (
            f"SELECT queue, COUNT(*), {_count(ABANDONED_SQL)},"
            f" SUM(wait), COUNT(wait), {_count(ABANDON_UNKNOWN_SQL)}"
            f" {_CALLS} AND {UNANSWERED} GROUP BY queue ORDER BY queue",
        ),
        shapes.unanswered_by_queue,
        summarised=Summarised(
            (
                f"SELECT queue, {_sum('u_calls')}, {_sum('u_abandon')}, {_sum('u_wait_sum')},"
                f" {_sum('u_wait_n')}, {_sum('u_exitunknown')} {_HOURS} GROUP BY queue"
                " HAVING SUM(u_calls) > 0 ORDER BY queue",
            )
        ),
    ),
    Report(
        "unanswered_calls_by_event",
        ("Cause", "Count", "%"),
        (
            f"SELECT outcome, COUNT(*) {_CALLS} AND {UNANSWERED} GROUP BY outcome ORDER BY 2 DESC, 1",
        ),
        shapes.count_share,
        summarised=Summarised(
            (_outcome_sums("u", UNANSWERED_OUTCOMES),), _by_outcome(UNANSWERED_OUTCOMES)
        ),
    ),
    *(_distribution(period) for period in PERIODS),
    Report(
        "distribution_by_queue",
        ("Queue", "Received", "Answered", "% Answered", "Unanswered", "% Unanswered",
         "Abandoned", "Avg Wait", "Avg Call Time", "Service Level", "Abandon Unknown"),
        (
            "SELECT queue, COUNT(*),"
            f" {_count(ANSWERED)}, {_count(UNANSWERED)}, {_count(ABANDONED_SQL)},"
            f" {_ANSWERED_TALK_WAIT}, {_count(ANSWERED + ' AND ' + within_sql('{threshold}'))},"
            f" {_count(ABANDON_UNKNOWN_SQL)} {_CALLS} GROUP BY queue ORDER BY queue",
        ),
        shapes.distribution_by_queue,
        summarised=Summarised(
            (
                f"SELECT queue, {_sum('calls')}, {_sum('a_calls')}, {_sum('u_calls')},"
                f" {_sum('u_abandon')}, {_sum('a_talk_sum')}, {_sum('a_talk_n')},"
                f" {_sum('a_wait_sum')}, {_sum('a_wait_n')}, {_sum('{within}')},"
                f" {_sum('u_exitunknown')} {_HOURS} GROUP BY queue ORDER BY queue",
            ),
            thresholds=True,
        ),
    ),
    Report(
        "service_level",
        ("Queue", "Threshold", "Answered", "Answered Within", "SL answered %", "Unanswered",
         "SL offered %"),
        (
            "SELECT queue, {threshold},"
            f" {_count(ANSWERED)}, {_count(ANSWERED + ' AND ' + within_sql('{threshold}'))},"
            f" {_count(UNANSWERED)},"
            f" {_count(UNANSWERED + ' AND NOT ' + within_sql('{threshold}'))}"
            f" {_CALLS} GROUP BY queue ORDER BY queue",
        ),
        shapes.service_level,
        summarised=Summarised(
            (
                f"SELECT queue, {{threshold}}, {_sum('a_calls')}, {_sum('{within}')},"
                f" {_sum('u_calls')}, {_sum('u_calls - {unanswered_within}')}"
                f" {_HOURS} GROUP BY queue ORDER BY queue",
            ),
            thresholds=True,
        ),
    ),
    Report(
        "agent_sessions",
        ("Agent", "Logged In (s)", "Paused (s)", "Pauses", "Calls", "Talk Time (s)",
         "Occupancy %", "Membership"),
        (
            "SELECT agent, start_time, end_time FROM agent_intervals"
            " WHERE {sessions} AND {overlap} ORDER BY start_time",
            "SELECT agent, start_time, end_time FROM agent_intervals"
            " WHERE {pauses} AND {overlap} ORDER BY start_time",
            f"SELECT agent, COUNT(*), SUM(talk) {_CALLS} AND {ANSWERED} GROUP BY agent",
        ),
        shapes.agent_sessions,
        summarised=Summarised((None, None, SESSION_CALLS), by_agent=True, by_day=True),
    ),
    Report(
        "agent_pauses",
        ("Agent", "Queue", "Start", "End", "Duration", "Reason"),
        (
            "SELECT COUNT(*) FROM agent_intervals WHERE {pauses} AND {logins}",
            "SELECT agent, queue, start_time, end_time, reason FROM agent_intervals"
            " WHERE {pauses} AND {logins} ORDER BY start_time, id",
        ),
        shapes.agent_pauses,
        paged=True,
    ),
    Report(
        "transfers",
        ("Agent", "To", "Count"),
        (
            f"SELECT agent, {TRANSFER_TO_SQL}, COUNT(*) {_CALLS} AND {TRANSFERRED_SQL}"
            " GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        shapes.transfers,
        summarised=Summarised(
            (
                f"SELECT agent, target, {_sum('calls')} FROM {{transfer_hours}}"
                " GROUP BY 1, 2 ORDER BY 1, 2",
            ),
            by_agent=True,
        ),
    ),
)  # fmt: skip
REPORTS: Mapping[str, Report] = {report.name: report for report in CATALOGUE}

# The report pages' headline figures for a period (not an API report): one row.
HEADLINE = Report(
    "headline",
    ("Received", "Answered", "Unanswered", "Abandoned", "Abandon Unknown", "Service Level",
     "ASA", "AHT", "Longest Wait", "Answered Within"),
    (
        "SELECT COUNT(*),"
        f" {_count(ANSWERED)}, {_count(UNANSWERED)}, {_count(ABANDONED_SQL)},"
        f" {_count(ABANDON_UNKNOWN_SQL)}, {_ANSWERED_TALK_WAIT},"
        f" {_count(ANSWERED + ' AND ' + within_sql('{threshold}'))},"
        f" MAX(COALESCE(wait, 0)) {_CALLS}",
    ),
    shapes.headline,
)  # fmt: skip
SUMMARISED: Mapping[str, Summarised] = {
    report.name: report.summarised for report in CATALOGUE if report.summarised is not None
}
