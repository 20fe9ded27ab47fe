"""The entities beside the reports: `search` (one row per call), `call/<uniqueid>` (a call's
queue_log rows), `queues` and `agents`, as the user may see them.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from wallboard.config import Settings
from wallboard.errors import not_found
from wallboard.history.naming import pbx_of
from wallboard.history.registry import Registry
from wallboard.history.reports.runner import agent_visibility, display_names, resolve_scope
from wallboard.history.reports.scope import (
    Page,
    ReportParams,
    Scope,
    SearchParams,
    Viewer,
    callflow,
    local_time,
    num,
)
from wallboard.history.reports.shapes import Context
from wallboard.history.reports.sql import in_sql, scope_sql
from wallboard.history.store import Store, data_columns


def _visible_sql(store: Store, user: Viewer, names: Registry) -> tuple[str, list[Any]]:
    parts, params = ["1 = 1"], []
    agents = names.expand(user.agents) if user.agents else ()
    queues = store.expand_queues(user.queues) if user.queues else ()
    for column, values in (("queue", queues), ("agent", agents)):
        if values:
            sql, more = in_sql(column, values)
            parts.append(sql)
            params += more
    return " AND ".join(parts), params


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_sql(scope: Scope, search: SearchParams) -> tuple[str, list[Any]]:
    """The condition a queue call must meet for its call to be found."""
    sql, params = scope_sql(scope, "enter_time")
    parts = [sql]
    if search.uniqueid is not None:
        parts.append("callid = ?")
        params.append(search.uniqueid)
    for column, value in (("callerid", search.clid), ("url", search.url)):
        if value is not None:
            parts.append(f"{column} LIKE ? ESCAPE '\\'")
            params.append(_like(value))
    if search.did is not None:
        parts.append("did = ?")
        params.append(search.did)
    if search.tag is not None:
        parts.append("1 = 0")  # calls carry no tags in this product
    for column, bounds in (("wait", search.waittime), ("talk", search.talktime)):
        if bounds is not None:
            low, high = bounds
            if low is not None:
                parts.append(f"COALESCE({column}, 0) >= ?")
                params.append(low)
            if high is not None:
                parts.append(f"COALESCE({column}, 0) <= ?")
                params.append(high)
    return " AND ".join(parts), params


def search_calls(
    store: Store, settings: Settings, params: ReportParams, search: SearchParams, user: Viewer
) -> Page:
    """One row per call (callid) with a matching queue call, built from the stays the user sees."""
    tz = ZoneInfo(settings.timezone)
    names = store.registry()
    scope = resolve_scope(store, tz, params, user, names)
    match, match_params = search_sql(scope, search)
    records = store.query_one(
        f"SELECT COUNT(DISTINCT callid) FROM queue_calls WHERE {match}", match_params
    )[0]
    offset = (params.page - 1) * params.rows
    if offset >= records:
        return Page(records, [])
    callids = _first_callids(store, match, match_params, offset, params.rows)
    visible, visible_params = _visible_sql(store, user, names)
    stays: dict[str, list[tuple]] = defaultdict(list)
    inside, in_params = in_sql("callid", callids)
    for row in store.query(
        "SELECT callid, queue, enter_time, end_time, outcome, agent, wait, talk, callerid, did"
        f" FROM queue_calls WHERE {inside} AND {visible} ORDER BY enter_time, id",
        in_params + visible_params,
    ):
        stays[row[0]].append(row)
    queue_names = display_names(store, "queues")
    ctx = Context(tz, scope, params.now, queue_names, display_names(store, "agents"), names)
    rows = [
        search_row(stays[callid], tz, params.now, queue_names, ctx)
        for callid in callids
        if stays.get(callid)
    ]
    return Page(records, rows)


SEARCH_COLUMNS = (
    "firstEvent", "overflow", "uniqueid", "callerid", "dateStart", "dateEnd", "event", "agent",
    "queue", "waitTime", "talkTime", "combinedWaitTime", "totalDuration", "recordingFilename",
    "agent_name", "queue_name", "callflow", "clid", "did", "datetime", "queuename", "queuereal",
)  # fmt: skip


def search_chunks(
    store: Store, settings: Settings, params: ReportParams, search: SearchParams, user: Viewer
) -> tuple[tuple[str, ...], Iterator[list[dict[str, str]]]]:
    """Every search row for an export, page by page: (columns, chunks of rows)."""

    def chunks() -> Iterator[list[dict[str, str]]]:
        page = 1
        while True:
            found = search_calls(store, settings, dataclasses.replace(params, page=page,
                                                                      rows=EXPORT_PAGE), search, user)  # fmt: skip
            if found.rows:
                yield found.rows
            if page * EXPORT_PAGE >= found.records:
                return
            page += 1

    return SEARCH_COLUMNS, chunks()


EXPORT_PAGE = 5000


def _first_callids(
    store: Store, match: str, params: list[Any], offset: int, count: int
) -> list[str]:
    """The callids `offset` .. `offset + count` in order of their first matching stay (then
    callid): the stays are read in that order in chunks (the enter_time index gives it) and
    stop once the page is full, instead of grouping every stay of the range first."""
    seen: set[str] = set()
    page: list[str] = []
    after: tuple[int, str] | None = None
    chunk = max(1000, 2 * count)
    while len(page) < count:
        keyset, keyset_params = ("", []) if after is None else (
            " AND (enter_time > ? OR (enter_time = ? AND callid > ?))",
            [after[0], after[0], after[1]],
        )  # fmt: skip
        rows = store.query(
            f"SELECT enter_time, callid FROM queue_calls WHERE {match}{keyset}"
            " ORDER BY enter_time, callid LIMIT ?",
            params + keyset_params + [chunk],
        )
        for _, callid in rows:
            if callid not in seen:
                seen.add(callid)
                if len(seen) > offset:
                    page.append(callid)
                    if len(page) == count:
                        break
        if len(rows) < chunk:
            break
        after = rows[-1]
    return page


def search_row(
    stays: list[tuple],
    tz: tzinfo,
    now: int,
    queue_names: Mapping[str, str],
    ctx: Context,
) -> dict[str, str]:
    """A search row from the stays (queue calls, in time order) of one callid."""
    first, last = stays[0], stays[-1]
    callid = first[0]
    agents = [s[5] for s in stays if s[5]]
    agent = ctx.agent(agents[-1]) if agents else "NONE"
    ends = [s[3] for s in stays if s[3] is not None]
    date_end = max(ends) if ends and all(s[3] is not None for s in stays) else None
    dids = [s[9] for s in stays if s[9]]
    date_start = local_time(first[2], tz)
    queue_name = queue_names.get(last[1], last[1])
    return {
        "firstEvent": "ENTERQUEUE",
        "overflow": str(len({s[1] for s in stays})),
        "uniqueid": callid,
        "callerid": first[8],
        "dateStart": date_start,
        "dateEnd": local_time(date_end, tz),
        "event": last[4] if last[4] is not None else "ENTERQUEUE",
        "agent": agent,
        "queue": last[1],
        "waitTime": num(last[6]),
        "talkTime": str(sum(s[7] or 0 for s in stays)),
        "combinedWaitTime": str(sum(s[6] or 0 for s in stays)),
        "totalDuration": str(max(0, (date_end if date_end is not None else now) - first[2])),
        "recordingFilename": "",
        "agent_name": ctx.agent_name(agent) if agents else "NONE",
        "queue_name": queue_name,
        "callflow": callflow(callid),
        # Keys real client scripts read beside the documented ones (reports.md).
        "clid": first[8],
        "did": dids[0] if dids else "",
        "datetime": date_start,
        "queuename": queue_name,
        "queuereal": last[1],
    }


def call_events(
    store: Store, settings: Settings, uniqueid: str, user: Viewer
) -> list[dict[str, str]]:
    """Every queue_log row of a call the user may see, in time order; 404 for others."""
    stays = store.query("SELECT queue, agent FROM queue_calls WHERE callid = ?", (uniqueid,))
    names = store.registry()
    sees_agent = agent_visibility(user, names)
    if not any(user.sees_queue(queue) and sees_agent(agent) for queue, agent in stays):
        raise not_found("call_not_found", f"no call {uniqueid[:80]!r}")
    tz = ZoneInfo(settings.timezone)
    queue_names = display_names(store, "queues")
    ctx = Context(tz, Scope(0, 0, ((0, 0),)), 0, queue_names, display_names(store, "agents"),
                  names)  # fmt: skip
    rows = []
    for ident, when, queue, agent, event, data in store.call_events(uniqueid):
        if not user.sees_queue(queue) or (agent != "NONE" and not sees_agent(agent)):
            continue
        info = data_columns(data)
        rows.append({
            "id": str(ident), "uniqueid": uniqueid, "datetime": local_time(when, tz),
            "queue": queue, "agent": agent, "event": event,
            "info1": info[0], "info2": info[1], "info3": info[2], "info4": info[3], "info5": info[4],
            "agentName": ctx.agent_name(agent) if agent != "NONE" else agent,
            "queueName": queue_names.get(queue, queue),
        })  # fmt: skip
    return rows


def list_queues(
    store: Store, user: Viewer, ident: str | None = None, default_pbx: str = ""
) -> list[dict[str, str]]:
    """The queues the user may see (with ALL = -1), sorted by name; or the one with `ident`.
    `pbx`: the PBX of each (`default_pbx` for names that do not say)."""
    rows = [("-1", "ALL", "ALL", "")] + [
        (str(i), name, display or name, pbx_of(name) or default_pbx)
        for i, name, display in store.query("SELECT id, name, display_name FROM queues")
        if user.sees_queue(name)
    ]
    return _entries(rows, ident, ("queue_id", "queue", "queue_name", "pbx"))


def list_agents(
    store: Store, user: Viewer, ident: str | None = None, default_pbx: str = ""
) -> list[dict[str, str]]:
    """One row per agent (person) the user may see, its aliases listed (with ALL = -1); a
    queue-restricted user sees the agents met in its queues (sessions, pauses, calls). An id or
    name of an alias finds its agent."""
    names = store.registry()
    sees_agent = agent_visibility(user, names)
    met = None
    if user.queues:
        inside, params = in_sql("queue", store.expand_queues(user.queues))
        met = {
            names.resolve(agent)
            for (agent,) in store.query(
                f"SELECT DISTINCT agent FROM agent_intervals WHERE {inside}"
                f" UNION SELECT DISTINCT agent FROM queue_calls WHERE {inside}"
                " AND agent IS NOT NULL",
                params * 2,
            )
        }
    ids = dict(store.query("SELECT name, id FROM agents"))
    aliases = names.aliases()
    if ident is not None and ident not in ids and ident != "-1":
        by_id = {str(i): name for name, i in ids.items()}
        ident = by_id.get(ident, ident)
    if ident is not None and ident in ids:
        ident = str(ids.get(names.resolve(ident), ids[ident]))
    rows = [("-1", "ALL", "ALL", "", "")] + [
        (str(i), name, names.shown(name), ",".join(aliases.get(name, ())),
         pbx_of(name) or default_pbx)
        for name, i in ids.items()
        if names.resolve(name) == name and sees_agent(name) and (met is None or name in met)
    ]  # fmt: skip
    return _entries(rows, ident, ("agent_id", "agent", "agent_name", "aliases", "pbx"))


def _entries(
    rows: list[tuple[str, ...]], ident: str | None, keys: tuple[str, ...]
) -> list[dict[str, str]]:
    if ident is not None:
        rows = [r for r in rows if r[0] == ident] or [r for r in rows if r[1] == ident][:1]
        if not rows:
            raise not_found(f"{keys[1]}_not_found", f"no {keys[1]} {ident[:80]!r}")
    return [dict(zip(keys, row, strict=True)) for row in sorted(rows, key=lambda r: r[1])]
