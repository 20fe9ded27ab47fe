"""The queue_log parser: every event, each version's variant, and every kind of bad line."""

from datetime import UTC, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallboard.history.queuelog import (
    Record,
    Rejected,
    clean_lines,
    format_line,
    parse_clean_line,
    parse_db_row,
    parse_line,
)


def rec(line: str) -> Record:
    parsed = parse_line(line)
    assert isinstance(parsed, Record), parsed
    return parsed


def test_enterqueue_versions():
    new = rec("1795904320|1795904319.1|2001|NONE|ENTERQUEUE||5558279|1")
    assert (new.time, new.callid, new.queue, new.agent, new.event) == (
        1795904320, "1795904319.1", "2001", "NONE", "ENTERQUEUE",
    )
    assert (new.url, new.callerid, new.origpos, new.callerid_name) == ("", "5558279", 1, None)
    with_name = rec("1|u|q|NONE|ENTERQUEUE|http://x|555|3|Jane Doe")
    assert (with_name.url, with_name.callerid_name, with_name.origpos) == ("http://x", "Jane Doe", 3)
    old = rec("1|u|q|NONE|ENTERQUEUE|url|555")  # 1.4: url|callerid only
    assert (old.url, old.callerid, old.origpos) == ("url", "555", None)


def test_connect_and_completions():
    c = rec("1795904322|1795904319.1|2001|Carol|CONNECT|2|1795904320.2|2")
    assert (c.wait, c.member_uid, c.ring) == (2, "1795904320.2", 2)
    old = rec("1|u|q|a|CONNECT|9|m.1")  # 1.4: no ringtime
    assert (old.wait, old.ring) == (9, None)
    done = rec("1|u|q|a|COMPLETECALLER|2|30|1")
    assert (done.wait, done.talk, done.origpos) == (2, 30, 1)
    agent = rec("1|u|q|a|COMPLETEAGENT|4|8")
    assert (agent.wait, agent.talk, agent.origpos) == (4, 8, None)


def test_exits_and_their_variants():
    a = rec("1|u|q|NONE|ABANDON|1|2|13")
    assert (a.position, a.origpos, a.wait) == (1, 2, 13)
    t = rec("1|u|q|NONE|EXITWITHTIMEOUT|1")  # 1.8 sometimes wrote only the position
    assert (t.position, t.origpos, t.wait) == (1, None, None)
    k = rec("1|u|q|NONE|EXITWITHKEY|5|1|2|7")
    assert (k.key, k.position, k.origpos, k.wait) == ("5", 1, 2, 7)
    k14 = rec("1|u|q|NONE|EXITWITHKEY|9|3")
    assert (k14.key, k14.position, k14.wait) == ("9", 3, None)
    w = rec("1|u|q|NONE|WITHDRAW|1|1|20|moved by supervisor")
    assert (w.wait, w.reason) == (20, "moved by supervisor")
    e = rec("1|u|q|NONE|EXITEMPTY|1|1|4")
    assert e.wait == 4


def test_ring_events_are_milliseconds():
    assert rec("1|u|q|Bob|RINGNOANSWER|15000").ring == 15
    assert rec("1|u|q|Bob|RINGNOANSWER|15000").number == 15000
    assert rec("1|u|q|Ivan|RINGCANCELED|7496").ring == 7


def test_transfers():
    b = rec("1|u|q|a|BLINDTRANSFER|2000|default|10|60|1")
    assert (b.target, b.wait, b.talk, b.origpos) == ("2000@default", 10, 60, 1)
    t = rec("1|u|q|a|TRANSFER|2001|from-internal|4|20")  # 1.4 lacked origpos
    assert (t.target, t.wait, t.talk, t.origpos) == ("2001@from-internal", 4, 20, None)
    bridge = rec("1|u|q|a|ATTENDEDTRANSFER|BRIDGE|f00d-1234|5|100|1")
    assert (bridge.target, bridge.wait, bridge.talk, bridge.origpos) == ("BRIDGE|f00d-1234", 5, 100, 1)
    link = rec("1|u|q|a|ATTENDEDTRANSFER|LINK|PJSIP/1-1|PJSIP/3-2|8|60|1")
    assert (link.target, link.wait, link.talk) == ("LINK|PJSIP/1-1|PJSIP/3-2", 8, 60)
    app = rec("1|u|q|a|ATTENDEDTRANSFER|APP|Dial|3|40|2")
    assert (app.target, app.wait, app.talk, app.origpos) == ("APP|Dial", 3, 40, 2)


def test_member_agent_and_bookkeeping_events():
    assert rec("1|NONE|2000|Dave|PAUSE|Admin").reason == "Admin"
    assert rec("1|NONE|2000|Dave|UNPAUSE|").reason == ""
    assert rec("1|NONE|NONE|Bob|PAUSEALL|Training").reason == "Training"
    assert rec("1|NONE|NONE|Bob|UNPAUSEALL|").event == "UNPAUSEALL"
    add = rec("1|MANAGER|2001|Local/agent9@agents|ADDMEMBER|")
    assert (add.callid, add.agent, add.reason, add.data) == ("MANAGER", "Local/agent9@agents", "", ())
    assert rec("1|MANAGER|2001|PJSIP/1|ADDMEMBER|PAUSED").reason == "PAUSED"
    assert rec("1|MANAGER|2001|PJSIP/1|REMOVEMEMBER|").data == ()
    assert rec("1|NONE|2001|Local/agent4@agents|PENALTY|1").number == 1
    assert rec("1|NONE|2001|PJSIP/1|RINGINUSE|0").number == 0
    login = rec("1|1.7|NONE|1001|AGENTLOGIN|PJSIP/101-0000001")
    assert login.reason == "PJSIP/101-0000001"
    logoff = rec("1|1.7|NONE|1001|AGENTLOGOFF|PJSIP/101-0000001|100")
    assert logoff.number == 100
    assert rec("1|u|q|NONE|DID|5551000").did == "5551000"
    assert rec("1|u|q|a|AGENTDUMP|").data == ()
    assert rec("1|u|q|a|SYSCOMPAT|").event == "SYSCOMPAT"
    start = rec("1479122702|NONE|NONE|NONE|QUEUESTART|")
    assert (start.event, start.data) == ("QUEUESTART", ())
    assert rec("1|NONE|NONE|NONE|CONFIGRELOAD|").event == "CONFIGRELOAD"


def test_unknown_events_are_kept_verbatim():
    info = rec("1|u|q|Alice|INFO|custom|Sale")
    assert (info.event, info.data) == ("INFO", ("custom", "Sale"))
    assert format_line(info) == "1|u|q|Alice|INFO|custom|Sale"
    no_trailing = rec("1|NONE|NONE|NONE|QUEUESTART")
    assert no_trailing.data == ()


def test_every_line_of_the_real_asterisk_22_file_parses():
    with open("tests/fixtures/lab_queue_log", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    parsed = [parse_line(line) for line in lines]
    assert all(isinstance(p, Record) for p in parsed)
    assert [format_line(p) for p in parsed] == lines


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1795904320|u|q|NONE", "field_count"),
        ("garbage without separators", "field_count"),
        ("", "empty"),
        ("17959x4320|u|q|NONE|ENTERQUEUE||555|1", "bad_epoch"),
        ("-5|u|q|NONE|ENTERQUEUE||555|1", "bad_epoch"),
        ("1|u|q|a|CONNECT|two|m|1", "bad_number"),
        ("1|u|q|a|COMPLETECALLER|2", "field_count"),
        ("1|u|q|a|ATTENDEDTRANSFER|BRIDGE|x", "field_count"),
        ("1|u|q|NONE|ABANDON|x|1|2", "bad_number"),
        ("1|u|q|a|BLINDTRANSFER|2000|default|x|60|1", "bad_number"),
        ("1|u|q|a|CONNECT|2|m\x00|1", "binary"),
        ("1|u|q|a|\x1b[31mEVIL|2", "binary"),
        ("1|u|q|a||2", "field_count"),
        ("1|u|q|a|INFO|" + "x" * 9000, "too_long"),
    ],
)
def test_bad_lines_are_rejected_with_a_reason(line, reason):
    parsed = parse_line(line)
    assert isinstance(parsed, Rejected)
    assert parsed.reason == reason
    assert parsed.detail


def test_bad_bytes_are_rejected():
    bad = parse_line(b"1|u|q|NONE|ENTERQUEUE||Jos\xe9|1\n")
    assert isinstance(bad, Rejected) and bad.reason == "bad_utf8"
    good = parse_line("1|u|q|NONE|ENTERQUEUE||José|1\n".encode())
    assert isinstance(good, Record) and good.callerid == "José"
    huge = parse_line(b"1|u|q|a|INFO|" + b"y" * 10000)
    assert isinstance(huge, Rejected) and huge.reason == "too_long"


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_parser_never_raises(data):
    assert isinstance(parse_line(data), (Record, Rejected))


@given(st.lists(st.text(alphabet="0123456789|abcENTERQUEUCONNECTABDOMPLX.-", max_size=12), max_size=12))
def test_parser_never_raises_on_pipe_soup(parts):
    assert isinstance(parse_line("|".join(parts)), (Record, Rejected))


def test_database_rows_adaptive_and_single_data_column():
    row = {
        "time": "2026-11-28 22:18:42.123456", "callid": "1795904319.1", "queuename": "2001",
        "agent": "Carol", "event": "CONNECT", "data1": "2", "data2": "1795904320.2", "data3": "2",
        "data4": "", "data5": "",
    }  # fmt: skip
    r = parse_db_row(row, UTC)
    assert isinstance(r, Record)
    assert (r.time, r.fraction, r.wait, r.ring, r.member_uid) == (1795904322, 0.123456, 2, 2, "1795904320.2")
    single = dict(row)
    for i in range(1, 6):
        del single[f"data{i}"]
    single["data"] = "2|1795904320.2|2"
    assert parse_db_row(single, UTC).wait == 2
    # local time written by the PBX (not queue_log_realtime_use_gmt): two hours east of UTC
    shifted = parse_db_row(row, timezone(timedelta(hours=2)))
    assert shifted.time == 1795904322 - 7200
    # the 5th column keeps whatever is left, as Asterisk's adaptive mode does
    link = {"time": "2026-11-28 22:18:42", "callid": "u", "queuename": "q", "agent": "a",
            "event": "ATTENDEDTRANSFER", "data1": "LINK", "data2": "PJSIP/1-1", "data3": "PJSIP/3-2",
            "data4": "8", "data5": "60|1"}  # fmt: skip
    assert parse_db_row(link, UTC).talk == 60


def test_database_row_with_bad_time_is_rejected():
    bad = parse_db_row({"time": "yesterday", "callid": "u", "queuename": "q", "agent": "a",
                        "event": "PAUSE", "data": "x"})  # fmt: skip
    assert isinstance(bad, Rejected) and bad.reason == "bad_epoch"


def test_database_row_times_in_every_form_asterisk_writes():
    from datetime import datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    base = {"callid": "1795904319.1", "queuename": "2001", "agent": "Carol", "event": "CONNECT",
            "data": "2|1795904320.2|2"}  # fmt: skip
    madrid = ZoneInfo("Europe/Madrid")  # UTC+1 in November
    forms = {
        "naive DATETIME(6)": (datetime(2026, 11, 28, 23, 18, 42, 250000), madrid),
        "aware TIMESTAMPTZ": (datetime(2026, 11, 28, 22, 18, 42, 250000, tzinfo=UTC), madrid),
        "CHAR with fraction": ("2026-11-28 23:18:42.250000", madrid),
        "CHAR padded": ("2026-11-28 23:18:42.25      ", madrid),
        "text with an offset": ("2026-11-28T23:18:42.25+01:00", UTC),
        "integer epoch": (1795904322, madrid),
        "Decimal epoch": (Decimal("1795904322.250000"), madrid),
        "float epoch": (1795904322.25, madrid),
        "numeric text epoch": ("1795904322.25", madrid),
        "bytes": (b"2026-11-28 23:18:42.25", madrid),
    }
    for what, (stamp, tz) in forms.items():
        parsed = parse_db_row({**base, "time": stamp}, tz)
        assert isinstance(parsed, Record), what
        expected = 0.0 if what == "integer epoch" else 0.25
        assert (parsed.time, parsed.fraction, parsed.wait) == (1795904322, expected, 2), what
    assert parse_db_row({**base, "time": "1795904322"}).fraction == 0.0


def test_database_rows_that_are_not_events_are_rejected_never_raised():
    from decimal import Decimal

    base = {"callid": "u", "queuename": "q", "agent": "a", "event": "PAUSE", "data": "x"}
    for stamp in (None, "", "0000-00-00 00:00:00", -5, float("nan"), float("inf"),
                  Decimal("NaN"), True, object(), b"\xff\xfe", "12:00"):  # fmt: skip
        bad = parse_db_row({**base, "time": stamp})
        assert isinstance(bad, Rejected) and bad.reason == "bad_epoch", stamp
    assert parse_db_row({**base, "time": 1, "agent": b"\xff"}).reason == "bad_utf8"
    assert parse_db_row({**base, "time": 1, "data": "a\x00b"}).reason == "binary"
    assert parse_db_row({**base, "time": 1, "event": None}).reason == "field_count"
    # bytes columns (VARBINARY) decode as UTF-8
    assert parse_db_row({**base, "time": 1, "agent": "Zoë".encode()}).agent == "Zoë"


@given(st.dictionaries(
    st.sampled_from(["time", "callid", "queuename", "agent", "event", "data", "data1", "data5"]),
    st.one_of(st.none(), st.text(max_size=30), st.binary(max_size=10), st.integers(),
              st.floats(), st.datetimes(), st.decimals()),
))  # fmt: skip
def test_parse_db_row_never_raises(row):
    assert isinstance(parse_db_row(row), (Record, Rejected))


def _careful(line: str):
    """The careful decoder alone, for comparison with the fast paths."""
    from wallboard.history import queuelog

    saved = queuelog._FAST
    queuelog._FAST = {}
    try:
        return parse_line(line)
    finally:
        queuelog._FAST = saved


def test_fast_paths_agree_with_the_careful_decoders():
    with open("tests/fixtures/lab_queue_log", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    with open("tests/fixtures/golden_queue_log", encoding="utf-8") as handle:
        lines += handle.read().splitlines()
    lines += [
        "1|u|q|NONE|ENTERQUEUE||555|", "1|u|q|a|CONNECT|2|m|", "1|u|q|a|COMPLETEAGENT|1|2|",
        "1|u|q|a|CONNECT|x|m|1", "1|u|q|NONE|ABANDON|1|x|3", "1|u|q|a|RINGNOANSWER|1.5",
        "1|u|q|NONE|EXITWITHTIMEOUT|||", "1|u|q|a|COMPLETECALLER|1|2|y",
    ]  # fmt: skip
    for line in lines:
        assert parse_line(line) == _careful(line), line


@given(
    st.sampled_from(["ENTERQUEUE", "CONNECT", "COMPLETECALLER", "ABANDON", "RINGNOANSWER"]),
    st.lists(st.one_of(st.integers(-5, 10**6).map(str), st.text(max_size=4)), max_size=4),
)
def test_fast_paths_agree_on_any_fields(event, fields):
    line = "|".join(["1700000000", "u.1", "q", "a", event, *fields])
    assert parse_line(line) == _careful(line)


@given(st.text(max_size=120))
def test_clean_lines_are_parsed_alike_without_the_per_line_checks(text):
    """The bulk reader checks a whole block with clean_lines, then skips the per-line checks."""
    for line in text.split("\n"):
        if clean_lines(line.encode("utf-8")) and len(line) <= 8192:
            assert parse_clean_line(line) == parse_line(line)


@given(st.lists(st.text(alphabet="0123456789|Q\t\r\x00\x1f\x7fé", max_size=20), max_size=6))
def test_clean_lines_finds_every_control_character(lines):
    raw = "\n".join(lines).encode("utf-8")
    has_control = any(ch < " " and ch not in "\t\n" or ch == "\x7f" for ch in "\n".join(lines))
    assert clean_lines(raw) is not has_control
