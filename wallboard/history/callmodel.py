"""The call model, once (reports.md): what counts as answered, unanswered, abandoned and
transferred, the service-level test, the local day, and the two formulas every figure uses.

Each rule is a Python predicate (for the call tracker, the summaries kept at ingest and the
live counters) and the same rule as an SQL expression over a `queue_calls` row (for the
reports); tests/test_callmodel.py checks the two agree on every outcome. Pure.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

# Outcomes that end an answered queue call and those that end an unanswered one.
ANSWERED_ENDS = frozenset(
    {"COMPLETEAGENT", "COMPLETECALLER", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"}
)
UNANSWERED_ENDS = frozenset(
    {"ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY", "WITHDRAW", "SYSCOMPAT",
     "EXITUNKNOWN"}
)  # fmt: skip
CONNECT = "CONNECT"  # the outcome of a call being talked now
STALE = "STALE"  # synthetic outcome: the PBX restarted or the outcome never came
ABANDON = "ABANDON"
# Synthetic outcome of history derived from AMI without the caller's channel events: the caller
# left unanswered, but whether by hanging up (an abandon) or a timeout is not known.
EXIT_UNKNOWN = "EXITUNKNOWN"
UNANSWERED_OUTCOMES = UNANSWERED_ENDS | {STALE}
TRANSFER_OUTCOMES = frozenset({"TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"})


# -- as Python predicates ----------------------------------------------------------------------


def is_open(outcome: str | None) -> bool:
    """Waiting (no outcome) or talking (CONNECT): its figures are not final."""
    return outcome is None or outcome == CONNECT


def is_answered(connect_time: int | None, outcome: str | None) -> bool:
    """Connected to an agent (outcome CONNECT while talking), whatever ended it since (a STALE
    talk too). A connect time with no outcome at all is no state the tracker makes; SQL's
    `NULL NOT IN (...)` is not true, so neither is this."""
    return connect_time is not None and outcome is not None and outcome not in UNANSWERED_ENDS


def is_unanswered(connect_time: int | None, outcome: str | None) -> bool:
    """Ended without an agent: an unanswered end, or STALE while still waiting."""
    return outcome in UNANSWERED_OUTCOMES and not is_answered(connect_time, outcome)


def is_abandoned(connect_time: int | None, outcome: str | None) -> bool:
    """The unanswered calls whose caller hung up while waiting."""
    return outcome == ABANDON and not is_answered(connect_time, outcome)


def is_abandon_unknown(connect_time: int | None, outcome: str | None) -> bool:
    """The unanswered calls of which nobody knows whether they were abandoned."""
    return outcome == EXIT_UNKNOWN and not is_answered(connect_time, outcome)


def is_transferred(outcome: str | None) -> bool:
    return outcome in TRANSFER_OUTCOMES


def within_service_level(wait: int | None, threshold: int) -> bool:
    """Answered in time (for SL answered % and offered %): waited no longer than the threshold."""
    return (wait or 0) <= threshold


def transfer_target(outcome: str | None, target: str | None) -> str:
    """Where a transfer went, as the transfers report groups it: exten@context for blind ones;
    an attended one's bridge or channels are unique ids, so those count as "attended" (one by
    application keeps its APP|name)."""
    target = target or ""
    if outcome == "ATTENDEDTRANSFER" and target[:4] != "APP|":
        return "attended"
    return target


# -- the same rules as SQL over a queue_calls row -------------------------------------------------
# Unanswered is spelled as equalities, not `IN (...)`: its partial index evaluates the term for
# every inserted row, and SQLite builds an ephemeral table per row for an IN list (7% of an
# import). The partial indexes are built from these strings: a query uses one only when it
# spells its condition the same, so keep them byte for byte.

_ENDS = "(" + ", ".join(f"'{e}'" for e in sorted(UNANSWERED_ENDS)) + ")"
ANSWERED_SQL = f"(connect_time IS NOT NULL AND outcome NOT IN {_ENDS})"
UNANSWERED_SQL = (
    "("
    + " OR ".join(f"outcome = '{e}'" for e in sorted(UNANSWERED_ENDS))
    + " OR (outcome = 'STALE' AND connect_time IS NULL))"
)
ABANDONED_SQL = "outcome = 'ABANDON'"  # (an abandon is never answered)
ABANDON_UNKNOWN_SQL = "outcome = 'EXITUNKNOWN'"
CLOSED_SQL = "(outcome IS NOT NULL AND outcome <> 'CONNECT')"
OPEN_SQL = "(outcome IS NULL OR outcome = 'CONNECT')"
TRANSFERRED_SQL = "outcome IN ('TRANSFER', 'BLINDTRANSFER', 'ATTENDEDTRANSFER')"
# No `%` in report SQL: psycopg reads it as a placeholder.
TRANSFER_TO_SQL = (
    "CASE WHEN outcome = 'ATTENDEDTRANSFER' AND SUBSTR(target, 1, 4) <> 'APP|' THEN 'attended'"
    " ELSE target END"
)


def within_sql(threshold: str) -> str:
    """The service-level test in SQL, against a threshold expression."""
    return f"COALESCE(wait, 0) <= {threshold}"


# -- days -------------------------------------------------------------------------------------------


def local_midnight(day: date, tz: tzinfo) -> int:
    """Epoch seconds of local midnight starting `day` (days run midnight to midnight, DST or not)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def day_bounds(start: date, end: date, tz: tzinfo) -> tuple[int, int]:
    """UTC epochs of local midnight starting `start` and of local midnight ending `end`."""
    return local_midnight(start, tz), local_midnight(end + timedelta(days=1), tz)


def today_bounds(now: float, tz: tzinfo) -> tuple[int, int]:
    """Epochs of the local midnight starting the day of `now` and of the next one."""
    today = datetime.fromtimestamp(now, tz).date()
    return day_bounds(today, today, tz)


# -- formulas -------------------------------------------------------------------------------------


def percent(part: int, whole: int) -> str:
    """100 × part / whole with two decimals ("0.00" when whole is 0)."""
    if not whole:
        return "0.00"
    return f"{100 * part / whole:.2f}"


def average(total: int, count: int) -> str:
    """total / count in whole units, halves rounded up ("0" when count is 0)."""
    if count <= 0:
        return "0"
    return str((2 * total + count) // (2 * count))
