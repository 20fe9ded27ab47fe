"""The synthetic queue_log generator (bench/synth.py): well-formed, deterministic, consistent."""

from __future__ import annotations

import re
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))

from bench.synth import GenStats, generate  # noqa: E402
from wallboard.history.queuelog import Record, parse_line  # noqa: E402

ANSWERED_ENDS = {"COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER", "ATTENDEDTRANSFER"}
UNANSWERED_ENDS = {"ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY"}
DATA_FIELDS = {  # data fields per event, as Asterisk 22 writes them
    "ENTERQUEUE": 3, "CONNECT": 3, "COMPLETECALLER": 3, "COMPLETEAGENT": 3,
    "BLINDTRANSFER": 5, "ATTENDEDTRANSFER": 5, "ABANDON": 3, "EXITWITHTIMEOUT": 3,
    "EXITWITHKEY": 4, "EXITEMPTY": 3, "RINGNOANSWER": 1, "RINGCANCELED": 1, "DID": 1,
    "ADDMEMBER": 1, "REMOVEMEMBER": 1, "PAUSE": 1, "UNPAUSE": 1, "PAUSEALL": 1,
    "UNPAUSEALL": 1, "QUEUESTART": 1,
}  # fmt: skip
UID = re.compile(r"\d{10}\.\d+")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenStats]:
    path = tmp_path_factory.mktemp("synth") / "queue_log"
    stats = generate(path, agents=20, queues=4, lines=5000, seed=7)
    return path, stats


def _rows(path: Path) -> list[list[str]]:
    return [line.split("|") for line in path.read_text().splitlines()]


def test_lines_are_well_formed_and_in_time_order(sample: tuple[Path, GenStats]) -> None:
    path, _ = sample
    text = path.read_text()
    assert text.endswith("\n")
    previous = 0
    for line in text.splitlines():
        assert line.count("|") >= 5, line
        fields = line.split("|")
        assert fields[0].isdigit(), line
        assert int(fields[0]) >= previous, line
        previous = int(fields[0])
        assert len(fields) - 5 == DATA_FIELDS[fields[4]], line
        assert fields[1] in ("NONE", "MANAGER") or UID.fullmatch(fields[1]), line


def test_every_line_parses_with_the_project_parser(sample: tuple[Path, GenStats]) -> None:
    path, _ = sample
    for line in path.read_text().splitlines():
        assert isinstance(parse_line(line), Record), line


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, agents=12, queues=3, lines=3000, seed=3)
    generate(b, agents=12, queues=3, lines=3000, seed=3)
    generate(c, agents=12, queues=3, lines=3000, seed=4)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_every_enterqueue_has_exactly_one_outcome(sample: tuple[Path, GenStats]) -> None:
    path, _ = sample
    open_calls: dict[str, dict] = {}  # callid -> its current queue stay
    for fields in _rows(path):
        callid, queue, event = fields[1], fields[2], fields[4]
        if event == "ENTERQUEUE":
            assert callid not in open_calls, f"{callid} entered twice without an outcome"
            open_calls[callid] = {"queue": queue, "connected": False}
        elif event in ("CONNECT", "RINGNOANSWER", "RINGCANCELED"):
            stay = open_calls[callid]
            assert stay["queue"] == queue and not stay["connected"]
            stay["connected"] = event == "CONNECT"
        elif event in ANSWERED_ENDS | UNANSWERED_ENDS:
            stay = open_calls.pop(callid)
            assert stay["queue"] == queue
            assert stay["connected"] == (event in ANSWERED_ENDS), fields
    assert not open_calls


def test_uniqueids_are_unique(sample: tuple[Path, GenStats]) -> None:
    path, _ = sample
    seen_callers: set[str] = set()
    member_uids: list[str] = []
    for fields in _rows(path):
        if fields[4] == "ENTERQUEUE":
            seen_callers.add(fields[1])
        elif fields[4] == "CONNECT":
            member_uids.append(fields[6])
    assert len(member_uids) == len(set(member_uids))
    assert not seen_callers & set(member_uids)


def test_stats_match_the_file(sample: tuple[Path, GenStats]) -> None:
    path, stats = sample
    rows = _rows(path)
    assert stats.lines == len(rows) >= 5000
    assert stats.events == Counter(fields[4] for fields in rows)
    assert stats.callers == len({f[1] for f in rows if f[4] == "ENTERQUEUE"})
    assert stats.calls == stats.answered + stats.unanswered
    assert stats.days == stats.count("QUEUESTART")
    assert (stats.first_epoch, stats.last_epoch) == (int(rows[0][0]), int(rows[-1][0]))
    last_event: dict[str, str] = {}
    reentries: Counter[str] = Counter()
    for fields in rows:
        if fields[4] == "ENTERQUEUE" and fields[1] in last_event:
            reentries[last_event[fields[1]]] += 1
        if fields[4] != "DID":
            last_event[fields[1]] = fields[4]
    assert reentries == {"EXITWITHTIMEOUT": stats.overflows, "BLINDTRANSFER": stats.requeued}
    assert stats.calls == stats.callers + stats.overflows + stats.requeued


def test_agent_sessions_and_pauses_close(sample: tuple[Path, GenStats]) -> None:
    path, _ = sample
    members: set[tuple[str, str]] = set()  # (queue, interface) logged in
    paused: set[tuple[str, str]] = set()  # (queue, agent name) paused
    for fields in _rows(path):
        queue, agent, event = fields[2], fields[3], fields[4]
        if event == "QUEUESTART":
            assert not members
            paused.clear()  # a paused member may log off without an UNPAUSE
        elif event == "ADDMEMBER":
            assert fields[1] == "MANAGER" and re.fullmatch(r"PJSIP/\d{4,}", agent)
            assert (queue, agent) not in members
            members.add((queue, agent))
        elif event == "REMOVEMEMBER":
            members.remove((queue, agent))
        elif event == "PAUSE":
            assert (queue, agent) not in paused
            paused.add((queue, agent))
        elif event == "UNPAUSE":
            paused.remove((queue, agent))
    assert not members


def test_whole_days_follow_business_hours(tmp_path: Path) -> None:
    path = tmp_path / "week"
    stats = generate(path, agents=15, queues=3, days=7, start=date(2025, 3, 3), seed=5)
    assert stats.days == 7 and stats.count("QUEUESTART") == 7
    by_hour: Counter[int] = Counter()
    by_weekday: Counter[int] = Counter()
    for fields in _rows(path):
        if fields[4] == "ENTERQUEUE":
            when = datetime.fromtimestamp(int(fields[0]), UTC)
            by_hour[when.hour] += 1
            by_weekday[when.weekday()] += 1
    assert min(by_weekday) == 0 and max(by_weekday) == 6
    busy = sum(by_hour[h] for h in (9, 10, 11, 14, 15, 16))
    night = sum(by_hour[h] for h in (0, 1, 2, 3, 4, 5))
    assert busy > 5 * night
    assert min(by_weekday[d] for d in range(5)) > max(by_weekday[5], by_weekday[6])
    for name in ("ABANDON", "CONNECT", "RINGNOANSWER", "PAUSEALL", "ADDMEMBER", "DID"):
        assert stats.count(name) > 0, name


def test_size_is_given_as_days_or_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path / "x", agents=5, queues=2, seed=1)
    with pytest.raises(ValueError):
        generate(tmp_path / "x", agents=5, queues=2, days=1, lines=10, seed=1)
