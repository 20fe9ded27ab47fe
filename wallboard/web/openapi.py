"""The OpenAPI 3 document of the REST API, built from the report catalogue so it cannot drift.

Served at `/stats/rest/openapi.json`; a test validates real responses against its schemas.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from wallboard.history.reports import CATALOGUE
from wallboard.web import apifields
from wallboard.web.apifields import Field, names

PATH = "/stats/rest/index.php"
ERROR_STATUSES = {
    "400": "A malformed parameter (invalid date, end before start, range over 3660 days, bad paging, bad seconds)",
    "401": "No or wrong credentials (`WWW-Authenticate: Basic`)",
    "403": "An explicit queue or agent the user may not see",
    "404": "Unknown entity or report; a call, queue or agent that does not exist or is not visible",
    "414": "Query string over 8 KiB",
    "429": "Too many failed logins from this address (`Retry-After`)",
    "500": "Internal error (never expected; logged)",
    "503": "`realtime` while the live side (AMI) is not running",
}

_NUMBER = {"type": "string", "pattern": "^[0-9]+$"}


def _strings(columns: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """An object with these string fields (and maybe more string fields)."""
    return {
        "type": "object",
        "required": list(columns),
        "properties": {column: {"type": "string"} for column in columns},
        "additionalProperties": {"type": "string"},
    }


def _described(fields: tuple[Field, ...]) -> dict[str, Any]:
    """An object with these string fields, each described (aliases say what they repeat)."""
    schema = _strings(names(fields))
    schema["properties"] = {
        f.name: {"type": "string", "description": f.description} for f in fields
    }
    return schema


def _alert_schema() -> dict[str, Any]:
    """An alert rule: string fields, and `firing` an object of subjects."""
    schema = _described(apifields.REALTIME_ALERT)
    subject = _strings(("queue", "agent", "pbx", "value", "since"))
    schema["properties"]["firing"] = {"type": "object", "additionalProperties": subject,
                                      "description": schema["properties"]["firing"]["description"]}  # fmt: skip
    return schema


SEARCH_COLUMNS = names(apifields.SEARCH)
CALL_COLUMNS = names(apifields.CALL)


def _entity_pattern() -> str:
    names = "|".join(report.name for report in CATALOGUE)
    return f"^(reports|reports/({names})|queues|queues/[^/]+|agents|agents/[^/]+|call/.+|search|realtime)$"


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


def _parameters() -> list[dict[str, Any]]:
    date = {"type": "string", "format": "date", "example": "2016-08-01"}
    seconds = {"type": "integer", "minimum": 0, "maximum": 86400}
    bounds = {"type": "string", "pattern": "^[0-9]*,[0-9]*$", "example": "0,60"}
    text = {"type": "string"}
    return [
        _query(
            "entity",
            {"type": "string", "pattern": _entity_pattern()},
            "What to return: `reports`, `reports/<name>`, `queues`, `queues/<queue_id>`, `agents`,"
            " `agents/<agent_id>`, `call/<uniqueid>`, `search`, `realtime`.",
            required=True,
            examples={
                "report": {"value": "reports/answered_calls_by_queue"},
                "call": {"value": "call/1327498260.2637"},
                "search": {"value": "search"},
            },
        ),
        _query("start", date, "First day (local), inclusive; default today."),
        _query("end", date, "Last day (local), inclusive; default today; not before start."),
        _query("secondsstart", seconds, "Time-of-day window start, seconds after local midnight."),
        _query("secondstart", seconds, "Alias of secondsstart."),
        _query("secondsend", seconds, "Time-of-day window end (exclusive); before start wraps midnight."),
        _query("queue", text, "Queue names or ids, comma-separated; ALL or -1 = every allowed queue."),
        _query("agent", text, "Agent names or ids, comma-separated; ALL or -1 = every agent."),
        _query("page", {"type": "integer", "minimum": 1}, "Page of a row list, 1-based."),
        _query("rows", {"type": "integer", "minimum": 1, "maximum": 10000}, "Rows per page (default 1000)."),
        _query("uniqueid", text, "search: this call's uniqueid."),
        _query("clid", text, "search: caller id contains."),
        _query("url", text, "search: URL contains."),
        _query("did", text, "search: DID equals."),
        _query("tag", text, "search: tag (calls carry none here, so it matches nothing)."),
        _query("waittime", bounds, "search: wait between min,max seconds (either may be empty)."),
        _query("talktime", bounds, "search: talk time between min,max seconds."),
        _query("queues", text, "realtime: queue names, comma-separated."),
        _query("format", {"type": "string", "enum": ["json", "csv", "xlsx"]},
               "reports/<name> and search: every row of the range as a CSV or XLSX file (headers:"
               " the JSON keys; paging ignored); json (the default) answers as usual."),
    ]  # fmt: skip


def _schemas() -> dict[str, Any]:
    report_rows = {
        report.name: _described(apifields.report_fields(report.name, report.columns))
        for report in CATALOGUE
    }
    row_refs = [{"$ref": f"#/components/schemas/row_{name}"} for name in report_rows]
    schemas: dict[str, Any] = {f"row_{name}": schema for name, schema in report_rows.items()}
    schemas.update({
        "Error": {
            "type": "object",
            "required": ["error", "message", "status"],
            "properties": {
                "error": {"type": "string", "pattern": "^[a-z_]+$"},
                "message": {"type": "string"},
                "status": {"type": "integer"},
                "request_id": {"type": "string", "description": "500 only: the id the server"
                               " logged the failure under (also the X-Request-ID header)"},
            },
            "additionalProperties": False,
        },
        "SearchRow": _described(apifields.SEARCH),
        "Paged": {
            "type": "object",
            "required": ["page", "total", "records", "rows"],
            "properties": {
                "page": _NUMBER, "total": _NUMBER, "records": _NUMBER,
                "rows": {
                    "type": "array",
                    "items": {"anyOf": [*row_refs, {"$ref": "#/components/schemas/SearchRow"}]},
                },
                "gaps": {"type": "array", "items": _described(apifields.GAP), "description":
                         "stretches the AMI-derived history of a PBX misses within the days"
                         " asked for: its figures there are missing, not zero"},
            },
            "additionalProperties": False,
        },
        "ReportList": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": _strings(["report"])}},
            "additionalProperties": False,
        },
        "EntityList": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": {"anyOf": [
                _described(apifields.QUEUES),
                _described(apifields.AGENTS),
            ]}}},
            "additionalProperties": False,
        },
        "CallEvents": {
            "type": "object",
            "required": ["totalpages", "currpage", "totalrecords", "data"],
            "properties": {
                "totalpages": _NUMBER, "currpage": _NUMBER, "totalrecords": _NUMBER,
                "data": {"type": "array", "items": _described(apifields.CALL)},
            },
            "additionalProperties": False,
        },
        "Realtime": {
            "type": "object",
            "required": ["waiting calls", "summary", "agents"],
            "properties": {
                "waiting calls": {"type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": _described(
                        apifields.REALTIME_WAITING)}},
                "summary": {"type": "object", "required": ["queue"], "properties": {
                    "queue": {"type": "object", "additionalProperties": _described(
                        apifields.REALTIME_SUMMARY)}}},
                "agents": {"type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": _described(
                        apifields.REALTIME_AGENT)}},
                "pbxs": {"type": "object", "additionalProperties": _described(
                    apifields.REALTIME_PBX)},
                "alerts": {"type": "object", "additionalProperties": _alert_schema()},
            },
        },
    })  # fmt: skip
    return schemas


@cache
def _document() -> dict[str, Any]:
    names = ", ".join(f"`{report.name}`" for report in CATALOGUE)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses: dict[str, Any] = {
        "200": {
            "description": "Depends on the entity: report list, paged rows, entity list, call"
            " events or the realtime view; every number is a string.",
            "content": {
                "application/json": {"schema": {"anyOf": [
                    {"$ref": f"#/components/schemas/{name}"}
                    for name in ("ReportList", "Paged", "EntityList", "CallEvents", "Realtime")
                ]}},
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}},
            },
        },
    }  # fmt: skip
    for status, description in ERROR_STATUSES.items():
        responses[status] = {"description": description, "content": error}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "wallboard REST API",
            "version": "1",
            "description": "Asternic Call Center Stats PRO compatible call data API. Also served at"
            f" `/rest/index.php`. Reports: {names}.",
        },
        "paths": {
            PATH: {
                "get": {
                    "operationId": "entity",
                    "summary": "Reports, queues, agents, call events, search, realtime",
                    "parameters": _parameters(),
                    "responses": responses,
                }
            }
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basicAuth": []}],
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy the caller may change)."""
    return copy.deepcopy(_document())
