"""The simulated call centre: the pure model, and the AMI server over real loopback sockets.

Layouts are checked against the real Asterisk 22 recording in tests/fixtures/.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import pytest

from wallboard.simulator import CallCenterModel, Config, SimulatorServer, default_config

FIXTURES = Path(__file__).parent / "fixtures"
START = 1795904314.0
TIMEOUT = 10.0  # only to avoid hangs

Message = list[tuple[str, str]]


# ---------------------------------------------------------------------------------------------
# Helpers: the real capture, and a tiny AMI client
# ---------------------------------------------------------------------------------------------


def parse_block(block: str) -> Message:
    pairs = []
    for line in block.split("\r\n"):
        key, _, value = line.partition(": ")
        pairs.append((key.rstrip(":"), value))
    return pairs


def capture_messages() -> list[Message]:
    raw = gzip.decompress((FIXTURES / "lab_ami_capture.raw.gz").read_bytes()).decode()
    banner, _, rest = raw.partition("\r\n")
    assert banner == "Asterisk Call Manager/11.0.0"
    return [parse_block(block) for block in rest.split("\r\n\r\n") if block]


def capture_events() -> list[dict[str, str]]:
    return [dict(message) for message in capture_messages() if message[0][0] == "Event"]


def capture_layouts() -> dict[str, set[tuple[str, ...]]]:
    """Every key layout the real Asterisk used, by event name."""
    layouts: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for message in capture_messages():
        if message[0][0] == "Event":
            layouts[message[0][1]].add(tuple(key for key, _ in message))
    return layouts


def capture_privileges() -> dict[str, set[str]]:
    """Every Privilege (event classes) the real Asterisk tagged each event name with."""
    privileges: dict[str, set[str]] = defaultdict(set)
    for event in capture_events():
        privileges[event["Event"]].add(event.get("Privilege", ""))  # list items have none
    return privileges


def lab_queue_log_widths() -> dict[str, set[int]]:
    widths: dict[str, set[int]] = defaultdict(set)
    for line in (FIXTURES / "lab_queue_log").read_text().splitlines():
        parts = line.split("|")
        widths[parts[4]].add(len(parts) - 5)
    return widths


class AmiClient:
    """Just enough of a manager client to test the server byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.banner = b""
        self.skipped: list[Message] = []  # messages `request` read past, kept in order

    @classmethod
    async def connect(cls, port: int) -> AmiClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        client.banner = await asyncio.wait_for(reader.readline(), TIMEOUT)
        return client

    async def login(self, secret: str = "wallboard", events: str = "on") -> Message:
        await self.send(Action="Login", Username="wallboard", Secret=secret, Events=events,
                        ActionID="login")
        return await self.read()

    async def send(self, **fields: str) -> None:
        self.writer.write("".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n")
        await self.writer.drain()

    async def read(self) -> Message:
        data = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        return parse_block(data.decode()[:-4])

    async def read_until(self, predicate) -> list[Message]:
        """Messages up to and including the first one matching `predicate`."""
        seen = []
        while True:
            message = await self.read()
            seen.append(message)
            if predicate(dict(message)):
                return seen

    async def request(self, action_id: str, **fields: str) -> list[Message]:
        """Send an action; return its answer (one response, or a whole list), skipping events."""
        await self.send(ActionID=action_id, **fields)
        answer = []
        while True:
            message = await self.read()
            fields_read = dict(message)
            if fields_read.get("ActionID") != action_id:
                self.skipped.append(message)
                continue
            answer.append(message)
            listing = answer[0][0] == ("Response", "Success") and ("EventList", "start") in answer[0]
            if not listing or fields_read.get("EventList") == "Complete":
                return answer

    async def events_until_pong(self) -> list[dict[str, str]]:
        """Every event already sent to us: a Ping's answer marks the end of the stream."""
        await self.send(Action="Ping", ActionID="sync")
        seen = await self.read_until(lambda m: m.get("ActionID") == "sync")
        seen, self.skipped = self.skipped + seen[:-1], []
        return [dict(m) for m in seen if m[0][0] == "Event"]

    async def at_eof(self) -> bool:
        data = await asyncio.wait_for(self.reader.read(), TIMEOUT)
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


@pytest.fixture
async def make_server(tmp_path):
    servers: list[SimulatorServer] = []

    async def build(auto: bool = False, seed: int = 7, speed: float = 0.0, **overrides):
        model = CallCenterModel(default_config(seed=seed, auto=auto, **overrides), START)
        server = SimulatorServer(model, queue_log_path=tmp_path / "queue_log", speed=speed,
                                 auth_delay=0.05)
        await server.start()
        servers.append(server)
        return server

    yield build
    for server in servers:
        await server.stop()


async def logged_in(server: SimulatorServer, events: str = "on") -> AmiClient:
    client = await AmiClient.connect(server.port)
    response = await client.login(events=events)
    assert dict(response)["Response"] == "Success"
    if events == "on":
        assert dict(await client.read())["Event"] == "FullyBooted"
    return client


# ---------------------------------------------------------------------------------------------
# The AMI protocol
# ---------------------------------------------------------------------------------------------


async def test_banner_login_and_fully_booted(make_server):
    server = await make_server()
    client = await AmiClient.connect(server.port)
    assert client.banner == b"Asterisk Call Manager/11.0.0\r\n"
    assert await client.login() == [
        ("Response", "Success"), ("ActionID", "login"), ("Message", "Authentication accepted"),
    ]
    booted = await client.read()
    assert [key for key, _ in booted] == ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    assert dict(booted)["Status"] == "Fully Booted"
    await client.close()


async def test_wrong_secret_is_refused_and_closed(make_server):
    server = await make_server()
    client = await AmiClient.connect(server.port)
    assert await client.login(secret="nope") == [
        ("Response", "Error"), ("ActionID", "login"), ("Message", "Authentication failed"),
    ]
    assert await client.at_eof()
    await client.close()


async def test_ping(make_server):
    server = await make_server()
    client = await logged_in(server)
    [pong] = await client.request("p1", Action="Ping")
    assert [key for key, _ in pong] == ["Response", "ActionID", "Ping", "Timestamp"]
    assert dict(pong)["Ping"] == "Pong"
    assert re.fullmatch(r"\d+\.\d{6}", dict(pong)["Timestamp"])
    await client.close()


async def test_unknown_action_and_missing_action(make_server):
    server = await make_server()
    client = await logged_in(server)
    [error] = await client.request("u1", Action="Frobnicate")
    assert dict(error) == {
        "Response": "Error", "ActionID": "u1",
        "Message": "Invalid/unknown command: Frobnicate. "
                   "Use Action: ListCommands to show available commands.",
    }
    [missing] = await client.request("u2", Foo="bar")
    assert dict(missing)["Message"] == "Missing action in request"
    await client.close()


async def test_action_before_login_is_denied_and_connection_stays(make_server):
    server = await make_server()
    client = await AmiClient.connect(server.port)
    [denied] = await client.request("early", Action="QueueStatus")
    assert dict(denied) == {"Response": "Error", "ActionID": "early", "Message": "Permission denied"}
    assert dict(await client.login())["Response"] == "Success"
    await client.close()


async def test_logoff_says_goodbye_and_closes(make_server):
    server = await make_server()
    client = await logged_in(server)
    [bye] = await client.request("bye", Action="Logoff")
    assert bye == [("Response", "Goodbye"), ("ActionID", "bye"),
                   ("Message", "Thanks for all the fish.")]
    assert await client.at_eof()
    await client.close()


async def test_garbage_is_counted_not_fatal(make_server):
    server = await make_server()
    client = await logged_in(server)
    client.writer.write(b"this line has no colon\r\n" + b"x" * 5000 + b"\r\n\r\n")
    [pong] = await client.request("after", Action="Ping")
    assert dict(pong)["Ping"] == "Pong"
    assert server.bad_input >= 2
    await client.close()


async def test_events_off_gets_no_events_and_events_on_gets_all(make_server):
    server = await make_server()
    quiet = await logged_in(server, events="off")
    loud = await logged_in(server)
    other = await logged_in(server)
    server.model.join_caller("2000", "5551234", "Someone")
    await server.flush()
    assert await quiet.events_until_pong() == []
    for client in (loud, other):
        names = [event["Event"] for event in await client.events_until_pong()]
        assert names[:2] == ["Newchannel", "QueueCallerJoin"] and "AgentCalled" in names
    for client in (quiet, loud, other):
        await client.close()


async def test_disconnect_clients_cuts_sockets_and_accepts_new_ones(make_server):
    server = await make_server()
    first = await logged_in(server)
    await server.disconnect_clients()
    assert await first.at_eof()
    again = await logged_in(server)
    [pong] = await again.request("p", Action="Ping")
    assert dict(pong)["Response"] == "Success"
    for client in (first, again):
        await client.close()


# ---------------------------------------------------------------------------------------------
# Layouts against the real capture
# ---------------------------------------------------------------------------------------------


async def test_queue_status_has_the_capture_shape(make_server):
    server = await make_server()
    for n in range(6):  # four ringall members ring for four callers; everyone is still queued
        server.model.join_caller("2000", f"555000{n}", f"Customer {n}")
    server.model.pause("Frank", "Lunch", queue="2002")
    await server.flush()
    client = await logged_in(server)
    ours = await client.request("st", Action="QueueStatus")
    real = [m for m in capture_messages() if ("ActionID", "cap-4") in m]

    def shapes(messages: list[Message]) -> dict[str, tuple[str, ...]]:
        return {m[0][1]: tuple(key for key, _ in m) for m in messages}

    assert shapes(ours) == shapes(real)
    assert {dict(m).get("Event") for m in ours} >= {"QueueParams", "QueueMember", "QueueEntry"}
    complete = dict(ours[-1])
    assert complete["EventList"] == "Complete"
    assert int(complete["ListItems"]) == len(ours) - 2
    entries = [dict(m) for m in ours if dict(m).get("Event") == "QueueEntry"]
    assert [e["Position"] for e in entries] == ["1", "2", "3", "4", "5", "6"]
    frank = [dict(m) for m in ours if dict(m).get("Name") == "Frank"]
    assert {(m["Queue"], m["Paused"], m["PausedReason"]) for m in frank} == {
        ("2002", "1", "Lunch"), ("2001", "0", ""),
    }
    await client.close()


async def test_queue_summary_has_the_capture_shape(make_server):
    server = await make_server()
    client = await logged_in(server)
    ours = await client.request("sum", Action="QueueSummary")
    real = [m for m in capture_messages() if ("ActionID", "cap-3") in m]
    assert [tuple(k for k, _ in m) for m in ours] == [tuple(k for k, _ in m) for m in real]
    assert [dict(m)["LoggedIn"] for m in ours[1:-1]] == ["4", "4", "4"]
    await client.close()


def run_model(seed: int, hours: float, **overrides) -> tuple[CallCenterModel, list]:
    model = CallCenterModel(default_config(seed=seed, **overrides), START)
    return model, model.advance(START + hours * 3600)


def leaving_config(*queues: str, **overrides) -> Config:
    """The default centre without automatic traffic, `queues` with leavewhenempty."""
    config = default_config(auto=False, **overrides)
    return replace(config, queues=tuple(
        replace(q, leavewhenempty=q.name in queues) for q in config.queues))


def every_ending() -> list:
    """Scripted callers, one per ending: abandon, timeout, exit-empty, answered (both enders)."""
    model = CallCenterModel(leaving_config("2002", answer_delay=(2.0, 2.0),
                                           caller_hangup_ratio=0.0), START)
    outputs = model.advance(START)
    model.join_caller("2000", "5550010", "Abandons", patience=1)
    outputs += model.advance(START + 10)
    model.join_caller("2000", "5550011", "Times Out", timeout=1)
    outputs += model.advance(START + 20)
    hangs_up = model.join_caller("2001", "5550012", "Hangs Up")
    outputs += model.advance(START + 30)
    model.hangup_caller(hangs_up)
    model.join_caller("2001", "5550013", "Agent Ends", talk_time=5)
    outputs += model.advance(START + 60)
    for n in (6, 7, 8, 1):
        model.pause(f"Local/agent{n}@agents", "Meeting", queue="2002")
    model.join_caller("2002", "5550014", "Left Alone")
    return outputs + model.advance(START + 70)


CALLER_CHANNEL_EVENTS = ("Newchannel", "HangupRequest", "SoftHangupRequest", "Hangup", "VarSet",
                         "Newexten")


def test_every_event_layout_was_seen_on_a_real_asterisk():
    layouts, privileges = capture_layouts(), capture_privileges()
    _, outputs = run_model(seed=11, hours=3)
    events = [item for item in [*outputs, *every_ending()] if isinstance(item, dict)]
    names = Counter()
    for item in events:
        names[item["Event"]] += 1
        assert tuple(item) in layouts[item["Event"]], item
        assert item["Privilege"] in privileges[item["Event"]], item
    for name in ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled",
                 "AgentConnect", "AgentComplete", "AgentRingNoAnswer", "QueueMemberStatus",
                 "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved",
                 *CALLER_CHANNEL_EVENTS):
        assert names[name] > 0, name
    # The caller channel's events carry exactly the field names the recording shows.
    for name in CALLER_CHANNEL_EVENTS:
        ours = {frozenset(item) for item in events if item["Event"] == name}
        assert ours == {frozenset(layout) for layout in layouts[name]}, name


def test_every_queue_log_layout_was_seen_in_the_real_queue_log():
    widths = lab_queue_log_widths()
    _, outputs = run_model(seed=11, hours=3)
    lines = [item for item in outputs if isinstance(item, str)]
    kinds = Counter(line.split("|")[4] for line in lines)
    assert set(kinds) <= set(widths)
    for name in ("ENTERQUEUE", "CONNECT", "COMPLETEAGENT", "COMPLETECALLER", "ABANDON",
                 "PAUSE", "UNPAUSE", "PAUSEALL", "UNPAUSEALL", "ADDMEMBER", "REMOVEMEMBER",
                 "RINGNOANSWER"):
        assert kinds[name] > 0, name
    for line in lines:
        parts = line.split("|")
        assert len(parts) - 5 in widths[parts[4]], line


# ---------------------------------------------------------------------------------------------
# A long automatic run over TCP: queue_log and AMI tell the same story
# ---------------------------------------------------------------------------------------------

OUTCOMES = {"ABANDON", "EXITWITHTIMEOUT", "COMPLETEAGENT", "COMPLETECALLER"}
NUMERIC = {
    "ENTERQUEUE": (2,), "CONNECT": (0, 2), "COMPLETEAGENT": (0, 1, 2), "COMPLETECALLER": (0, 1, 2),
    "ABANDON": (0, 1, 2), "EXITWITHTIMEOUT": (0, 1, 2), "RINGNOANSWER": (0,), "RINGCANCELED": (0,),
}


async def test_two_hour_run_is_consistent(make_server, tmp_path):
    server = await make_server(auto=True, seed=5)
    client = await logged_in(server)
    for _ in range(120):  # two virtual hours, one minute at a time
        await server.step(60)
    events = await client.events_until_pong()
    status = [dict(m) for m in await client.request("end", Action="QueueStatus")]
    await client.close()
    lines = (tmp_path / "queue_log").read_text().splitlines()

    # Every line is well-formed.
    assert lines[0].endswith("|NONE|NONE|NONE|QUEUESTART|")
    epochs = []
    for line in lines:
        parts = line.split("|")
        assert len(parts) >= 6, line
        assert parts[0].isdigit(), line
        epochs.append(int(parts[0]))
        for index in NUMERIC.get(parts[4], ()):
            assert parts[5 + index].isdigit(), line
    assert epochs == sorted(epochs)

    # Every call has at most one outcome; answered ones CONNECT first.
    per_call: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        parts = line.split("|")
        if parts[4] in OUTCOMES | {"ENTERQUEUE", "CONNECT"}:
            per_call[parts[1]].append(parts[4])
    waiting = {e["Uniqueid"] for e in status if e.get("Event") == "QueueEntry"}
    talking = set()
    for callid, flow in per_call.items():
        assert flow[0] == "ENTERQUEUE", (callid, flow)
        if flow[1:] in (["CONNECT", "COMPLETEAGENT"], ["CONNECT", "COMPLETECALLER"],
                        ["ABANDON"], ["EXITWITHTIMEOUT"]):
            assert callid not in waiting
        elif flow[1:] == ["CONNECT"]:
            talking.add(callid)
        else:
            assert flow[1:] == [] and callid in waiting, (callid, flow)
    in_call = sum(1 for e in status if e.get("Event") == "QueueMember" and e["InCall"] == "1")
    assert in_call <= len(talking)

    # The AMI stream agrees with the queue_log.
    kinds = Counter(line.split("|")[4] for line in lines)
    names = Counter(event["Event"] for event in events)
    assert names["QueueCallerJoin"] == kinds["ENTERQUEUE"] > 100
    assert names["AgentConnect"] == kinds["CONNECT"]
    assert names["AgentComplete"] == kinds["COMPLETEAGENT"] + kinds["COMPLETECALLER"]
    assert names["QueueCallerAbandon"] == kinds["ABANDON"] + kinds["EXITWITHTIMEOUT"] > 0
    assert names["QueueCallerLeave"] == kinds["ENTERQUEUE"] - len(waiting)
    assert names["AgentRingNoAnswer"] == kinds["RINGNOANSWER"]
    assert names["QueueMemberPause"] == kinds["PAUSE"] + kinds["UNPAUSE"]
    assert names["QueueMemberAdded"] == kinds["ADDMEMBER"]
    assert names["QueueMemberRemoved"] == kinds["REMOVEMEMBER"]
    # The caller channels: born on joining, hung up once their call ended.
    ended = sum(kinds[outcome] for outcome in OUTCOMES)
    assert names["Newchannel"] == kinds["ENTERQUEUE"]
    assert names["Hangup"] == names["SoftHangupRequest"] == ended
    assert names["HangupRequest"] == kinds["ABANDON"] + kinds["COMPLETECALLER"]
    assert names["VarSet"] == kinds["EXITWITHTIMEOUT"]

    # Leave comes before Connect; timestamps never go back.
    left = set()
    for event in events:
        if event["Event"] == "QueueCallerLeave":
            left.add(event["Uniqueid"])
        if event["Event"] == "AgentConnect":
            assert event["Uniqueid"] in left
    stamps = [float(event["Timestamp"]) for event in events]
    assert stamps == sorted(stamps)

    # Each member's device goes 1 -> 6 -> (2 -> 1 | 1).
    allowed = {("1", "6"), ("6", "1"), ("6", "2"), ("2", "1")}
    last: dict[tuple[str, str], str] = {}
    for event in events:
        if event["Event"] in ("QueueMemberStatus", "QueueMemberAdded"):
            key = (event["Queue"], event["Interface"])
            if event["Event"] == "QueueMemberStatus" and key in last:
                assert (last[key], event["Status"]) in allowed, event
            last[key] = event["Status"]


# ---------------------------------------------------------------------------------------------
# Scripting and manager actions
# ---------------------------------------------------------------------------------------------


async def test_scripted_caller_waits_then_is_served(make_server, tmp_path):
    server = await make_server()
    client = await logged_in(server)
    for n in (6, 7, 8, 1):  # Frank, Grace, Heidi, Alice: every member of 2002
        [ok] = await client.request(f"p{n}", Action="QueuePause", Queue="2002",
                                    Interface=f"Local/agent{n}@agents", Paused="true",
                                    Reason="Meeting")
        assert dict(ok)["Message"] == "Interface paused successfully"
    uniqueid = server.model.join_caller("2002", "5550100", "Scripted Caller")
    await server.flush()
    events = await client.events_until_pong()
    assert [e["Event"] for e in events] == (
        ["QueueMemberPause"] * 4 + ["Newchannel", "QueueCallerJoin"])
    join = events[-1]
    assert (join["Uniqueid"], join["CallerIDNum"], join["Queue"]) == (uniqueid, "5550100", "2002")

    await server.step(30)
    status = [dict(m) for m in await client.request("s1", Action="QueueStatus", Queue="2002")]
    [entry] = [m for m in status if m.get("Event") == "QueueEntry"]
    assert (entry["Uniqueid"], entry["Wait"], entry["CallerIDName"]) == (
        uniqueid, "30", "Scripted Caller")

    [ok] = await client.request("u", Action="QueuePause", Queue="2002",
                                Interface="Local/agent7@agents", Paused="false")
    assert dict(ok)["Message"] == "Interface unpaused successfully"
    await server.step(10)
    names = [e["Event"] for e in await client.events_until_pong()]
    assert names.index("AgentCalled") < names.index("QueueCallerLeave") < names.index("AgentConnect")
    status = [dict(m) for m in await client.request("s2", Action="QueueStatus", Queue="2002")]
    assert not [m for m in status if m.get("Event") == "QueueEntry"]
    [grace] = [m for m in status if m.get("Name") == "Grace"]
    assert (grace["InCall"], grace["Status"]) == ("1", "2")
    await client.close()

    log = (tmp_path / "queue_log").read_text().splitlines()
    assert f"{int(START)}|NONE|2002|Grace|PAUSE|Meeting" in log
    assert f"{int(START)}|{uniqueid}|2002|NONE|ENTERQUEUE||5550100|1" in log
    assert any(line.startswith(f"{int(START) + 30}|NONE|2002|Grace|UNPAUSE|") for line in log)
    assert any(f"|{uniqueid}|2002|Grace|CONNECT|3" in line for line in log)


async def test_queue_add_remove_pause_answers(make_server, tmp_path):
    server = await make_server()
    client = await logged_in(server)

    async def message(action_id: str, **fields: str) -> str:
        [answer] = await client.request(action_id, **fields)
        return dict(answer)["Message"]

    ivan = "Local/agent9@agents"
    assert await message("a1", Action="QueueAdd", Queue="2001", Interface=ivan,
                         MemberName="Ivan", Penalty="2") == "Added interface to queue"
    assert await message("a2", Action="QueueAdd", Queue="2001", Interface=ivan) == (
        "Unable to add interface: Already there")
    assert await message("a3", Action="QueueAdd", Queue="9999", Interface=ivan) == (
        "Unable to add interface to queue: No such queue")
    assert await message("p1", Action="QueuePause", Interface=ivan, Paused="1",
                         Reason="Lunch") == "Interface paused successfully"
    assert await message("p2", Action="QueuePause", Interface="Local/nobody@agents",
                         Paused="1") == "Interface not found"
    assert await message("r1", Action="QueueRemove", Queue="2001",
                         Interface="Local/agent3@agents") == "Member not dynamic"
    assert await message("r2", Action="QueueRemove", Queue="2001", Interface=ivan) == (
        "Removed interface from queue")
    assert await message("r3", Action="QueueRemove", Queue="2001", Interface=ivan) == (
        "Unable to remove interface: Not there")
    events = await client.events_until_pong()
    assert [e["Event"] for e in events] == [
        "QueueMemberAdded", "QueueMemberPause", "QueueMemberRemoved",
    ]
    assert (events[0]["MemberName"], events[0]["Membership"], events[0]["Penalty"]) == (
        "Ivan", "dynamic", "2")
    await client.close()
    log = (tmp_path / "queue_log").read_text().splitlines()[1:]
    t = int(START)
    assert log == [
        f"{t}|MANAGER|2001|{ivan}|ADDMEMBER|",
        f"{t}|NONE|NONE|Ivan|PAUSEALL|Lunch",
        f"{t}|NONE|2001|Ivan|PAUSE|Lunch",
        f"{t}|MANAGER|2001|{ivan}|REMOVEMEMBER|",
    ]


async def test_clock_runs_on_wall_time_times_speed(make_server, tmp_path):
    server = await make_server(auto=True, seed=3, speed=3600.0)
    client = await logged_in(server)
    seen = await client.read_until(lambda m: m.get("Event") == "AgentComplete")
    assert any(dict(m).get("Event") == "AgentConnect" for m in seen)
    await client.close()
    await server.stop()
    assert "|COMPLETE" in (tmp_path / "queue_log").read_text()


# ---------------------------------------------------------------------------------------------
# The pure model
# ---------------------------------------------------------------------------------------------


def test_same_seed_same_story():
    assert run_model(seed=4, hours=1)[1] == run_model(seed=4, hours=1)[1]
    assert run_model(seed=4, hours=1)[1] != run_model(seed=5, hours=1)[1]


def test_auto_off_produces_only_queuestart():
    model = CallCenterModel(default_config(auto=False), START)
    assert model.advance(START + 3600) == [f"{int(START)}|NONE|NONE|NONE|QUEUESTART|"]
    assert model.next_event_time() is None


def logged_lines(outputs: list) -> list[str]:
    return [item for item in outputs if isinstance(item, str)]


def test_abandon_while_ringing_is_ringcanceled_then_abandon():
    model = CallCenterModel(default_config(auto=False, answer_delay=(50.0, 60.0)), START)
    model.advance(START)
    uniqueid = model.join_caller("2001", "5550001", "Impatient", patience=7)
    outputs = model.advance(START + 10)
    lines = [line.split("|", 5)[3:] for line in logged_lines(outputs)]
    assert lines == [
        ["NONE", "ENTERQUEUE", "|5550001|1"],
        ["Carol", "RINGCANCELED", "7000"],
        ["NONE", "ABANDON", "1|1|7"],
    ]
    names = [item["Event"] for item in outputs if isinstance(item, dict)]
    assert names[-7:] == ["HangupRequest", "QueueCallerAbandon", "QueueCallerLeave",
                          "SoftHangupRequest", "Hangup", "QueueMemberStatus", "QueueMemberStatus"]
    assert model.hangup_caller(uniqueid) is False


def test_nobody_answers_then_timeout():
    model = CallCenterModel(default_config(auto=False, no_answer_ratio=1.0), START)
    model.advance(START)
    model.join_caller("2002", "5550002", "Patient", timeout=40)
    outputs = model.advance(START + 60)
    lines = [line.split("|", 5)[3:] for line in logged_lines(outputs)]
    # leastrecent with no call taken yet keeps choosing the first member, as Asterisk does:
    # 15 s ring, 2 s retry, 15 s, 2 s, then the queue timeout cuts the third ring at 6 s.
    assert lines == [
        ["NONE", "ENTERQUEUE", "|5550002|1"],
        ["Frank", "RINGNOANSWER", "15000"],
        ["Frank", "RINGNOANSWER", "15000"],
        ["Frank", "RINGNOANSWER", "6000"],
        ["NONE", "EXITWITHTIMEOUT", "1|1|40"],
    ]
    names = [item["Event"] for item in outputs if isinstance(item, dict)]
    assert names.count("AgentRingNoAnswer") == 3
    assert names[-9:] == ["QueueMemberStatus", "QueueMemberStatus",
                          "QueueCallerAbandon", "QueueCallerLeave", "VarSet", "Newexten",
                          "Newexten", "SoftHangupRequest", "Hangup"]


def test_answered_call_counters_and_statuses():
    model = CallCenterModel(default_config(auto=False, answer_delay=(2.0, 2.0)), START)
    model.advance(START)
    uniqueid = model.join_caller("2001", "5550003", "Talker", talk_time=30)
    outputs = model.advance(START + 100)
    statuses = [(item["Queue"], item["Status"], item["InCall"], item["CallsTaken"])
                for item in outputs
                if isinstance(item, dict) and item["Event"] == "QueueMemberStatus"]
    # Carol is in 2000 and 2001: ringing, in use (InCall only in 2001), idle with the call counted.
    assert statuses == [
        ("2000", "6", "0", "0"), ("2001", "6", "0", "0"),
        ("2000", "2", "0", "0"), ("2001", "2", "1", "0"),
        ("2000", "1", "0", "1"), ("2001", "1", "0", "1"),
    ]
    lines = [line.split("|", 5)[3:] for line in logged_lines(outputs)]
    assert lines[1][:2] == ["Carol", "CONNECT"] and lines[1][2].endswith("|2")
    assert lines[2][:2] in (["Carol", "COMPLETEAGENT"], ["Carol", "COMPLETECALLER"])
    assert lines[2][2] == "2|30|1"
    params = {m["Queue"]: m for m in model.queue_status() if m["Event"] == "QueueParams"}
    assert (params["2001"]["Completed"], params["2001"]["TalkTime"]) == ("1", "30")
    assert params["2001"]["ServicelevelPerf"] == "100.0"
    members = [m for m in model.queue_status(member="Carol") if m["Event"] == "QueueMember"]
    assert {m["LastCall"] for m in members} == {str(int(START) + 32)}
    assert model.hangup_caller(uniqueid) is False


# ---------------------------------------------------------------------------------------------
# The caller's channel, as Asterisk's call and dialplan events tell it
# ---------------------------------------------------------------------------------------------


def events_of(outputs: list, uniqueid: str | None = None) -> list[dict[str, str]]:
    """The AMI events among `outputs` (only those about channel `uniqueid`, when given)."""
    return [item for item in outputs
            if isinstance(item, dict) and uniqueid in (None, item.get("Uniqueid"))]


STORY_EVENTS = {"Newchannel", "QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave",
                "AgentConnect", "AgentComplete", "HangupRequest", "SoftHangupRequest", "Hangup"}


def caller_story(events: list[dict[str, str]], uniqueid: str) -> list[str]:
    """What the model says of one caller's channel, in order, with causes and Queue() result."""
    story: list[str] = []
    for event in events:
        if event.get("Uniqueid") != uniqueid:
            continue
        name = event["Event"]
        if name == "VarSet" and event["Variable"] == "QUEUESTATUS":
            story.append(f"QUEUESTATUS={event['Value']}")
        elif name == "Newexten" and "QueueCallerLeave" in story:  # the dialplan after Queue()
            story.append(f"Newexten {event['Application']}")
        elif name in STORY_EVENTS:
            story.append(f"{name} {event['Cause']}" if "Cause" in event else name)
    return story


def hangup_fields(event: dict[str, str]) -> tuple[str, str, str]:
    return event["Privilege"], event["Cause"], event.get("Cause-txt", "")


def test_newchannel_precedes_queue_caller_join():
    model = CallCenterModel(default_config(auto=False), START)
    uniqueid = model.join_caller("2001", "5550030", "New")
    newchannel, join = events_of(model.advance(START), uniqueid)[:2]
    assert (newchannel["Event"], join["Event"]) == ("Newchannel", "QueueCallerJoin")
    assert newchannel["Privilege"] == "call,all"
    # Born ringing at priority 1 with no caller id yet, as in the recording.
    assert (newchannel["ChannelState"], newchannel["ChannelStateDesc"], newchannel["Priority"],
            newchannel["CallerIDNum"], newchannel["ConnectedLineName"]) == (
        "4", "Ring", "1", "<unknown>", "<unknown>")
    same = ("Channel", "Context", "Exten", "Uniqueid", "Linkedid")
    assert [newchannel[k] for k in same] == [join[k] for k in same]


def test_abandon_sends_hangup_request_before_queue_caller_abandon():
    model = CallCenterModel(default_config(auto=False, answer_delay=(50.0, 60.0)), START)
    uniqueid = model.join_caller("2000", "5550031", "Gives Up")
    model.advance(START + 5)
    assert model.hangup_caller(uniqueid)
    events = events_of(model.advance(START + 5), uniqueid)
    assert [e["Event"] for e in events] == [
        "HangupRequest", "QueueCallerAbandon", "QueueCallerLeave", "SoftHangupRequest", "Hangup",
    ]
    request, abandon, _, soft, hangup = events
    assert hangup_fields(request) == ("call,all", "0", "")
    assert hangup_fields(soft) == ("call,all", "16", "")
    assert hangup_fields(hangup) == ("call,all", "0", "Unknown")
    channel = ("Channel", "ChannelState", "CallerIDNum", "Priority", "Uniqueid", "Linkedid")
    for event in (request, soft, hangup):
        assert [event[k] for k in channel] == [abandon[k] for k in channel]


def test_timeout_sends_no_hangup_request_and_queuestatus_follows_the_leave():
    model = CallCenterModel(default_config(auto=False, no_answer_ratio=1.0), START)
    uniqueid = model.join_caller("2002", "5550032", "Waits Too Long", timeout=40)
    events = events_of(model.advance(START + 60), uniqueid)
    names = [e["Event"] for e in events]
    assert "HangupRequest" not in names
    leave = names.index("QueueCallerLeave")
    assert names[leave - 1:] == ["QueueCallerAbandon", "QueueCallerLeave", "VarSet", "Newexten",
                                 "Newexten", "SoftHangupRequest", "Hangup"]
    varset, noop, hang, soft, hangup = events[leave + 1:]
    assert (varset["Privilege"], varset["Variable"], varset["Value"]) == (
        "dialplan,all", "QUEUESTATUS", "TIMEOUT")
    assert [(e["Privilege"], e["Priority"], e["Extension"], e["Application"], e["AppData"])
            for e in (noop, hang)] == [
        ("dialplan,all", "5", "2002", "NoOp", "Queue 2002 result: TIMEOUT"),
        ("dialplan,all", "6", "2002", "Hangup", ""),
    ]
    assert hangup_fields(soft) == ("call,all", "16", "")
    assert hangup_fields(hangup) == ("call,all", "16", "Normal Clearing")
    assert soft["Priority"] == hangup["Priority"] == "6"


@pytest.mark.parametrize("ender", ["caller", "agent"])
def test_answered_call_hangs_up_after_agent_complete(ender):
    ratio = 1.0 if ender == "caller" else 0.0
    config = default_config(auto=False, answer_delay=(2.0, 2.0), caller_hangup_ratio=ratio,
                            bare_complete_ratio=0.0)
    model = CallCenterModel(config, START)
    uniqueid = model.join_caller("2001", "5550033", "Talker", talk_time=30)
    outputs = model.advance(START + 60)
    names = [e["Event"] for e in events_of(outputs, uniqueid)]
    done = names.index("AgentComplete")
    assert names[done:] == ["AgentComplete", "SoftHangupRequest", "Hangup"]
    assert names[done - 1] == ("HangupRequest" if ender == "caller" else "AgentConnect")
    assert names.count("HangupRequest") == (ender == "caller")
    hangup = events_of(outputs, uniqueid)[-1]
    assert hangup_fields(hangup) == ("call,all", "16", "Normal Clearing")
    # The member's device goes idle after the caller's channel is gone.
    assert [e["Event"] for e in events_of(outputs)][-2:] == ["QueueMemberStatus"] * 2
    kind = "COMPLETECALLER" if ender == "caller" else "COMPLETEAGENT"
    assert any(f"|{uniqueid}|2001|Carol|{kind}|2|30|1" in line for line in logged_lines(outputs))


@pytest.mark.parametrize(("recorded", "ending"), [
    ("1795904334.33", "abandon"), ("1795904379.121", "timeout"),
    ("1795904319.1", "caller"), ("1795904323.9", "agent"),
])
def test_caller_channel_story_is_the_recorded_one(recorded, ending):
    config = default_config(auto=False, answer_delay=(2.0, 2.0), bare_complete_ratio=0.0,
                            caller_hangup_ratio=0.0, no_answer_ratio=float(ending == "timeout"))
    model = CallCenterModel(config, START)
    uniqueid = model.join_caller("2001", "5550034", "Story", talk_time=8,
                                 patience=1 if ending == "abandon" else None,
                                 timeout=20 if ending == "timeout" else None)
    outputs = model.advance(START + 5)
    if ending == "caller":
        model.hangup_caller(uniqueid)
    outputs += model.advance(START + 60)
    assert caller_story(events_of(outputs), uniqueid) == caller_story(capture_events(), recorded)


def test_every_caller_story_was_seen_on_a_real_asterisk():
    recorded = capture_events()
    known = {tuple(caller_story(recorded, e["Uniqueid"]))
             for e in recorded if e["Event"] == "QueueCallerJoin"}
    _, outputs = run_model(seed=11, hours=3, bare_complete_ratio=0.0)
    events = events_of([*outputs, *every_ending()])
    stories = Counter()
    for join in (e for e in events if e["Event"] == "QueueCallerJoin"):
        story = caller_story(events, join["Uniqueid"])
        if story[-1].startswith("Hangup"):  # the call has ended
            # EXITEMPTY takes Queue()'s TIMEOUT path in app_queue, with another QUEUESTATUS.
            story = [step.replace("LEAVEEMPTY", "TIMEOUT") for step in story]
            stories[tuple(story)] += 1
    assert set(stories) <= known
    assert len(stories) == 4 and sum(stories.values()) > 400


def test_exit_empty_when_the_last_member_pauses():
    model = CallCenterModel(leaving_config("2002", answer_delay=(50.0, 60.0)), START)
    for n in (6, 7, 8):  # Frank, Grace, Heidi; Alice (penalty 1) is left
        model.pause(f"Local/agent{n}@agents", "Meeting", queue="2002")
    uniqueid = model.join_caller("2002", "5550035", "Left Alone")
    model.advance(START + 5)
    model.pause("Alice", "Lunch")  # while ringing: the caller leaves when the ring ends
    outputs = model.advance(START + 5)
    assert "EXITEMPTY" not in "".join(logged_lines(outputs))
    outputs += model.advance(START + 60)
    lines = [line.split("|", 5)[3:] for line in logged_lines(outputs) if uniqueid in line]
    assert lines == [["Alice", "RINGNOANSWER", "15000"], ["NONE", "EXITEMPTY", "1|1|15"]]
    events = events_of(outputs, uniqueid)
    names = [e["Event"] for e in events]
    assert names[-7:] == ["QueueCallerAbandon", "QueueCallerLeave", "VarSet", "Newexten",
                          "Newexten", "SoftHangupRequest", "Hangup"]
    assert "HangupRequest" not in names
    assert (events[-5]["Variable"], events[-5]["Value"]) == ("QUEUESTATUS", "LEAVEEMPTY")
    assert events[-4]["AppData"] == "Queue 2002 result: LEAVEEMPTY"
    assert hangup_fields(events[-1]) == ("call,all", "16", "Normal Clearing")
    [params] = [m for m in model.queue_status(queue="2002") if m["Event"] == "QueueParams"]
    assert (params["Calls"], params["Abandoned"]) == ("0", "1")


def test_exit_empty_when_the_last_member_logs_out_or_there_is_none():
    model = CallCenterModel(leaving_config("2000", answer_delay=(50.0, 60.0)), START)
    model.add_member("2000", "Local/agent9@agents")  # Ivan: the one member who will be left
    for n in (1, 2, 3, 4):
        model.pause(f"Local/agent{n}@agents", "Admin", queue="2000")
    kept = model.join_caller("2001", "5550036", "Other Queue")  # 2001 does not leave when empty
    first = model.join_caller("2000", "5550037", "First")  # rings Ivan
    model.advance(START + 3)
    assert model.remove_member("2000", "Local/agent9@agents")  # logs out while ringing
    outputs = model.advance(START + 3)
    second = model.join_caller("2000", "5550038", "Second")  # an empty queue: leaves at once
    outputs += model.advance(START + 10)
    exits = [line.split("|")[1:] for line in logged_lines(outputs) if "|EXITEMPTY|" in line]
    assert exits == [[first, "2000", "NONE", "EXITEMPTY", "1", "1", "3"],
                     [second, "2000", "NONE", "EXITEMPTY", "1", "1", "0"]]
    assert [e["Value"] for e in events_of(outputs) if e["Event"] == "VarSet"] == ["LEAVEEMPTY"] * 2
    assert kept in {e["Uniqueid"] for e in model.queue_status() if e["Event"] == "QueueEntry"}


async def test_call_events_reach_only_sessions_that_ask_for_them(make_server):
    server = await make_server()
    agent_only = await logged_in(server, events="agent")
    with_calls = await logged_in(server, events="agent,call")
    everything = await logged_in(server)
    for n in (6, 7, 8, 1):  # nobody can answer 2002: the caller times out
        server.model.pause(f"Local/agent{n}@agents", "Meeting", queue="2002")
    uniqueid = server.model.join_caller("2002", "5550039", "Filtered", timeout=5)
    await server.step(10)
    seen = {}
    for name, client in (("agent", agent_only), ("call", with_calls), ("on", everything)):
        events = await client.events_until_pong()
        seen[name] = [e["Event"] for e in events if e.get("Uniqueid") == uniqueid]
        if name == "agent":
            assert {e["Privilege"] for e in events} == {"agent,all"}
    assert seen["agent"] == ["QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave"]
    assert seen["call"] == ["Newchannel", "QueueCallerJoin", "QueueCallerAbandon",
                            "QueueCallerLeave", "SoftHangupRequest", "Hangup"]
    assert seen["on"] == ["Newchannel", "QueueCallerJoin", "QueueCallerAbandon",
                          "QueueCallerLeave", "VarSet", "Newexten", "Newexten",
                          "SoftHangupRequest", "Hangup"]
    for client in (agent_only, with_calls, everything):
        await client.close()
