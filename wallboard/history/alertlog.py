"""The `alert_log` table: one row per message the alert notifier tried to send (wallboard/
notify.py), listed by `wallboard alerts log`."""

from __future__ import annotations

from dataclasses import dataclass

from wallboard.history.store import Store

KEEP_ROWS = 100_000  # older rows are deleted as new ones come


@dataclass(frozen=True)
class Sent:
    """A message: for which rule and subject, firing or cleared, by which channel to whom,
    and how it went (`sent`, `failed` after its retries, `rate-limited`)."""

    at: int
    rule: str
    subject: str
    kind: str
    channel: str
    target: str
    status: str
    attempts: int
    error: str = ""


def record(store: Store, sent: Sent) -> None:
    def write(tx) -> None:  # noqa: ANN001 - a database.Transaction
        tx.execute(
            "INSERT INTO alert_log (at, rule, subject, kind, channel, target, status, attempts,"
            " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sent.at, sent.rule, sent.subject, sent.kind, sent.channel, sent.target[:300],
             sent.status, sent.attempts, sent.error[:500]),
        )  # fmt: skip
        tx.execute("DELETE FROM alert_log WHERE id <= (SELECT max(id) FROM alert_log) - ?",
                   (KEEP_ROWS,))  # fmt: skip

    store.write(write)


def recent(store: Store, limit: int = 50, rule: str | None = None) -> list[Sent]:
    """The newest `limit` rows (of one rule), oldest first."""
    where, params = ("WHERE rule = ?", (rule,)) if rule else ("", ())
    rows = store.query(
        "SELECT at, rule, subject, kind, channel, target, status, attempts, error FROM alert_log"
        f" {where} ORDER BY id DESC LIMIT ?", (*params, limit),
    )  # fmt: skip
    return [Sent(*row) for row in reversed(rows)]
