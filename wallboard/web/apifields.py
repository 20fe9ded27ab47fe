"""What every key of the REST API's answers means, once: the OpenAPI document's schemas and the
key tables of docs/rest-api.md are both built from here (a test keeps the document in step).

Keys are added, never renamed; a key kept for the original's clients under a second name is an
alias and says which key it repeats. `python -m wallboard.web.apifields` prints the tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from wallboard.history.reports import CATALOGUE


@dataclass(frozen=True)
class Field:
    """One key of a JSON object: what it holds, and the key it repeats when it is an alias."""

    name: str
    text: str
    alias_of: str | None = None

    @property
    def description(self) -> str:
        if self.alias_of is None:
            return self.text
        return f"Compatibility alias of `{self.alias_of}`" + (f": {self.text}" if self.text else ".")


def _fields(*rows: tuple[str, ...]) -> tuple[Field, ...]:
    return tuple(Field(*row) for row in rows)


# Report columns, by label: the same label means the same thing in every report; a report may
# say more in REPORT_NOTES.
COLUMN_TEXT: dict[str, str] = {
    "datetime": "local time `DD-MM-YYYY HH:MM:SS`: the connect time (answered), the time the"
    " call left the queue (unanswered); clients slice `[:10]` and `[-8:]`",
    "queue": "queue name",
    "agent": "agent (member name as the queue_log logs it)",
    "callerid": "caller id number",
    "event": "the outcome event (COMPLETEAGENT, ABANDON, ...)",
    "waitTime": "seconds waited in the queue",
    "ringTime": "seconds the agent's phone rang",
    "callTime": "seconds talked",
    "agentName": "the agent's display name",
    "queueName": "the queue's display name",
    "recording": "recording file name (none is kept here: always empty)",
    "uniqueid": "the call's Asterisk uniqueid",
    "callflow": "the `entity=call/<uniqueid>` link of the call's events",
    "url": "the URL given to Queue()",
    "did": "the DID the call came in on (FreePBX DID line), empty when unknown (always for a"
    " PBX whose history is derived from AMI, which carries no DID line)",
    "position": "position in the queue when the call left",
    "origPosition": "position in the queue when the call entered",
    "Queue": "queue name",
    "Agent": "agent",
    "Received": "queue calls that entered",
    "Answered": "answered queue calls",
    "Unanswered": "unanswered queue calls",
    "Abandoned": "unanswered queue calls the caller hung up on (ABANDON)",
    "Abandon Unknown": "unanswered queue calls of which it is not known whether the caller hung"
    " up (EXITUNKNOWN: history derived from AMI without the caller channels' `call` events);"
    " `Abandoned` does not count them",
    "% Calls": "share of the rows' calls, two decimals",
    "% Answered": "share of the rows' answered calls",
    "% Unanswered": "share of the rows' unanswered calls",
    "Calls": "answered calls",
    "Call Time": "seconds talked",
    "% Call Time": "share of the rows' talk time",
    "Avg Call Time": "average seconds talked per answered call",
    "Hold Time": "seconds waited by the answered calls",
    "Avg Hold Time": "average seconds waited per answered call",
    "Avg Wait": "average seconds waited by the answered calls",
    "URL": "the URL given to Queue()",
    "DID": "the DID",
    "Answer": "wait bucket: answered within N seconds",
    "Count": "calls",
    "Delta": "calls in this bucket alone",
    "%": "share of the calls (cumulative in answered_calls_by_holdtime)",
    "Cause": "outcome event",
    "Period": "hour `00`-`23`, day `YYYY-MM-DD`, weekday `Monday`-`Sunday` or month `YYYY-MM`",
    "Logins": "agent sessions that started",
    "Logoffs": "agent sessions that ended",
    "Service Level": "SL answered %: answered within the queue's threshold / answered",
    "Threshold": "the queue's service-level threshold, seconds",
    "Answered Within": "answered within the threshold",
    "SL answered %": "answered within the threshold / answered",
    "SL offered %": "answered within / (answered + unanswered that waited past the threshold)",
    "Logged In (s)": "seconds logged in (several queues at once count once); empty for a"
    " static member",
    "Paused (s)": "seconds paused",
    "Pauses": "pauses started",
    "Talk Time (s)": "seconds talked",
    "Occupancy %": "talk / (logged in - paused); empty for a static member",
    "Membership": "`static` (a queues.conf member: Asterisk logs no sessions for it, so its"
    " logged-in time and occupancy are empty, not 0) or `dynamic`",
    "Start": "local time the pause started",
    "End": "local time it ended (empty while paused)",
    "Duration": "seconds paused",
    "Reason": "pause reason",
    "To": "where the calls went (exten@context, `attended`, or the application)",
}
# Where a label means something narrower in one report.
REPORT_TEXT: dict[tuple[str, str], str] = {
    ("answered_calls_by_queue", "Received"): "answered queue calls (the original's label)",
    ("unanswered_calls_by_queue", "Avg Wait"): "average seconds waited by the unanswered calls",
    ("unanswered_calls_detail", "agentName"): "the agent's display name (empty: most unanswered"
    " calls reached nobody)",
    ("answered_calls_by_holdtime", "Count"): "answered within the bucket's limit (cumulative)",
}


def report_fields(report: str, columns: tuple[str, ...]) -> tuple[Field, ...]:
    return tuple(
        Field(column, REPORT_TEXT.get((report, column), COLUMN_TEXT[column]))
        for column in columns
    )


SEARCH = _fields(
    ("firstEvent", "always ENTERQUEUE"),
    ("overflow", "queues the call passed through"),
    ("uniqueid", "the call's Asterisk uniqueid"),
    ("callerid", "caller id number"),
    ("dateStart", "local time `YYYY-MM-DD HH:MM:SS` the call entered its first queue"),
    ("dateEnd", "local time it ended (empty while it goes on)"),
    ("event", "the outcome of its last queue stay"),
    ("agent", "the last agent who answered it, or NONE"),
    ("queue", "the queue of its last stay"),
    ("waitTime", "seconds waited in the last queue"),
    ("talkTime", "seconds talked, all stays"),
    ("combinedWaitTime", "seconds waited, all stays"),
    ("totalDuration", "seconds from entering to the end (or to now)"),
    ("recordingFilename", "recording file name (none is kept here: always empty)"),
    ("agent_name", "the agent's display name"),
    ("queue_name", "the last queue's display name"),
    ("callflow", "the `entity=call/<uniqueid>` link"),
    ("clid", "read by client scripts", "callerid"),
    ("did", "the DID the call came in on, empty when unknown (always with AMI-derived history)"),
    ("datetime", "read by client scripts", "dateStart"),
    ("queuename", "lower-case n, read by client scripts", "queue_name"),
    ("queuereal", "the queue where the call ended, after any overflow"),
)
CALL = _fields(
    ("id", "the event's number in the store"),
    ("uniqueid", "the call's Asterisk uniqueid"),
    ("datetime", "local time `YYYY-MM-DD HH:MM:SS`"),
    ("queue", "queue name"),
    ("agent", "agent, or NONE"),
    ("event", "queue_log event"),
    ("info1", "first data field"), ("info2", "second data field"), ("info3", "third data field"),
    ("info4", "fourth data field"), ("info5", "fifth data field and the rest"),
    ("agentName", "the agent's display name"),
    ("queueName", "the queue's display name"),
)  # fmt: skip
REALTIME_WAITING = _fields(
    ("calleridNum", "caller id number"),
    ("calleridName", "caller id name"),
    ("waitTime", "seconds waiting so far"),
)
REALTIME_SUMMARY = _fields(
    ("Waiting", "callers waiting now"),
    ("Agents", "members of the queue"),
    ("Available", "members ready for a call: not paused, not on a call, device free"),
    ("Penalty", "members with a penalty above 0"),
    ("Logged Off", "members whose device is unavailable or invalid"),
    ("Busy", "members on a call or with a busy device"),
    ("Paused", "members paused (and not logged off)"),
    ("Received", "today's queue calls"),
    ("Answered", "today's answered calls"),
    ("Unanswered", "today's unanswered calls"),
    ("Abandoned", "today's abandoned calls"),
    ("Abandon Rate", "abandoned / received today, %"),
    ("Avg Wait", "today's average wait of answered calls, seconds"),
    ("Avg Duration", "today's average talk time of ended calls, seconds"),
    ("Max. wait time", "the longest wait today or now, seconds"),
    ("Service Level", "today's SL answered %"),
    ("maxWaitTime", "the longest wait of the callers waiting now, seconds"),
    ("staffed", "members logged in (Agents - Logged Off); first API version"),
    ("talking", "first API version", "Busy"),
    ("auxiliary", "first API version", "Paused"),
    ("answeredCals", "first API version, spelt as the original spells it", "Answered"),
    ("unansweredCalls", "first API version", "Unanswered"),
    ("abandonRate", "first API version", "Abandon Rate"),
    ("averageWaitTime", "first API version", "Avg Wait"),
    ("averageCallTime", "`Avg Duration` as `HH:MM:SS`; first API version"),
    ("callsWaiting", "first API version", "Waiting"),
    ("pbx", "the PBX the queue is on (`default` with one PBX)"),
    ("Abandon Unknown", "today's unanswered calls whose abandon AMI could not tell (EXITUNKNOWN)"),
)
REALTIME_PBX = _fields(
    ("connected", "`1` while the AMI link is logged in, else `0`"),
    ("since", "epoch seconds of the link's last change"),
    ("error", "why the link is down, empty when up"),
    ("history", "where its history comes from: `queue_log` (file), `table` (the realtime"
     " queue_log table), `ami` (derived from AMI) or `none`"),
    ("historyOk", "`1` while the history source reads, `0` when it cannot"),
    ("historyError", "why the history source cannot read, empty when it does"),
)
REALTIME_ALERT = _fields(
    ("metric", "what the rule watches: `waiting`, `longest_wait` (s), `service_level` (% today),"
     " `abandon_rate` (% today), `available` (agents), `paused` (minutes), `pbx_down` (s)"),
    ("op", "`above` or `below`: the side of `threshold` the rule fires on"),
    ("threshold", "the level past which it fires"),
    ("clear", "the level it must come back to before it clears (its hysteresis)"),
    ("state", "`firing` while something the viewer sees is past the level, else `ok`"),
    ("since", "epoch seconds of the rule's last change between ok and firing"),
    ("firing", "what fires now, by subject (a queue, an agent or a PBX): an object of"
     " `queue`, `agent`, `pbx`, `value` and `since` (epoch seconds it started firing)"),
)
GAP = _fields(
    ("pbx", "the PBX whose AMI-derived history misses this stretch"),
    ("start", "local time `YYYY-MM-DD HH:MM:SS` the AMI link went down (or the product stopped)"),
    ("end", "local time it was back, empty while it is still down"),
    ("reason", "why: the link's error, `wallboard stopped`, `wallboard was not running`"),
)
REALTIME_AGENT = _fields(
    ("Status", "device state (available, busy, ringing, onhold, unavailable, invalid); busy"
     " while on a call from this queue"),
    ("Duration", "seconds in the current state"),
    ("CallerID", "caller id of the current call from this queue"),
    ("Penalty", "penalty in this queue"),
    ("Last call", "epoch seconds of the last call's end, 0 if none"),
    ("Calls answered", "calls taken since the member was added (Asterisk's count)"),
    ("Paused", "`1` or `0`"),
    ("Reason", "pause reason"),
    ("status", "the original's words, which its clients style by: `not in use`, `busy` (on a"
     " call from these queues), `ringing`, `dialout` (device in use, not on such a call),"
     " `unavailable`, `invalid`, `on hold`; a paused agent keeps its device's word"),
    ("paused", "read by the original's clients", "Paused"),
    ("location", "the member's interface, e.g. `PJSIP/2135`"),
    ("lastCall", "read by the original's clients", "Last call"),
    ("callerid", "caller id of the current call from any of these queues the viewer sees"),
    ("penalty", "read by the original's clients", "Penalty"),
    ("duration", "read by the original's clients", "Duration"),
    ("auxType", "pause reason while paused, else empty"),
    ("auxSeconds", "seconds paused so far, `0` when not paused"),
    ("callFromQueue", "the queue of the current call, empty when none (or not visible)"),
    ("loggedIn", "seconds logged in today by Asterisk's LoginTime (16.23+; for static members"
     " too, whose queue_log has no session lines), empty when Asterisk does not say"),
    ("answeredToday", "calls of this queue the agent answered today (the queue_log call model:"
     " as `answered_calls_by_agent` counts them, across restarts)"),
    ("talkTimeToday", "seconds of talk of those calls that have ended"),
    ("missedToday", "rings of this queue the agent let go unanswered today (RINGNOANSWER)"),
    ("pausedToday", "seconds of today's ended pauses in this queue (the current one: auxSeconds)"),
)
QUEUES = _fields(
    ("queue_id", "stable id"), ("queue", "queue name"), ("queue_name", "display name"),
    ("pbx", "the PBX the queue is on"),
)  # fmt: skip
AGENTS = _fields(
    ("agent_id", "stable id"), ("agent", "agent name"), ("agent_name", "display name"),
    ("aliases", "the other names Asterisk logs the agent under (interfaces, member names,"
     " state interfaces), comma-separated"),
    ("pbx", "the PBX the agent works on (empty when names are not qualified and several match)"),
)  # fmt: skip


def objects() -> Iterator[tuple[str, tuple[Field, ...]]]:
    """(title, fields) of every kind of JSON object the API answers with."""
    for report in CATALOGUE:
        yield f"reports/{report.name} rows", report_fields(report.name, report.columns)
    yield "search rows", SEARCH
    yield "call/<uniqueid> data", CALL
    yield "realtime: waiting calls[queue][n]", REALTIME_WAITING
    yield "realtime: summary.queue[queue]", REALTIME_SUMMARY
    yield "realtime: agents[queue][agent]", REALTIME_AGENT
    yield "realtime: pbxs[pbx]", REALTIME_PBX
    yield "realtime: alerts[rule]", REALTIME_ALERT
    yield "reports and search: gaps[n]", GAP
    yield "queues data", QUEUES
    yield "agents data", AGENTS


def names(fields: tuple[Field, ...]) -> tuple[str, ...]:
    return tuple(f.name for f in fields)


def markdown() -> str:
    """The key tables of docs/rest-api.md."""
    out = []
    for title, fields in objects():
        out.append(f"#### {title}\n\n| key | meaning |\n|---|---|")
        out += [f"| `{f.name}` | {f.description} |" for f in fields]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
