"""Ingest into a real SQLite store: bulk import, overlap, crash/restart, bad input, follow mode."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from wallboard.history import ingest as ingest_module
from wallboard.history.calls import CallChange, IntervalChange, QueueCall, RingMiss
from wallboard.history.ingest import Ingester, QueueLogFollower, import_files
from wallboard.history.store import CALL_COLUMNS, open_store

from .test_calls import EXPECTED, GOLDEN

GOLDEN_LINES = GOLDEN.read_text().splitlines(keepends=True)


def stored_calls(store) -> dict:
    rows = store.query(f"SELECT {', '.join(CALL_COLUMNS)} FROM queue_calls")
    calls = {}
    for row in rows:
        call = QueueCall(*row)
        calls[(call.callid, call.queue)] = (
            call.enter_time, call.connect_time, call.end_time, call.outcome, call.agent,
            call.wait, call.ring, call.talk,
        )  # fmt: skip
    return calls


def event_count(store) -> int:
    return store.query_one("SELECT coalesce(sum(count), 0) FROM queue_log_blocks")[0]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines))
    return path


def test_golden_import_gives_the_hand_written_calls(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    summary = import_files(store, [GOLDEN])
    assert summary.lines == len(GOLDEN_LINES) and summary.records == len(GOLDEN_LINES)
    assert summary.calls == len(EXPECTED)
    assert stored_calls(store) == EXPECTED
    queues = {name for (name,) in store.query("SELECT name FROM queues")}
    assert queues == {"NONE", "sales", "support"}
    # ids are stable: a second store fed the same file later keeps the first ids
    ids = dict(store.query("SELECT name, id FROM queues"))
    import_files(store, [GOLDEN])
    assert dict(store.query("SELECT name, id FROM queues")) == ids


def test_importing_twice_adds_nothing(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    import_files(store, [GOLDEN])
    again = import_files(store, [GOLDEN])
    assert (again.lines, again.records) == (0, 0)
    renamed = write(tmp_path / "queue_log.1", GOLDEN_LINES)  # a rotated copy under another name
    assert import_files(store, [renamed]).records == 0
    assert event_count(store) == len(GOLDEN_LINES)


def test_calls_split_across_two_imports(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    first = write(tmp_path / "a", GOLDEN_LINES[:23])  # c4.1 entered support, c8.1 not yet...
    import_files(store, [first])
    rest = write(tmp_path / "b", GOLDEN_LINES[23:])  # ...their ends come in another file
    summary = import_files(store, [rest])
    assert summary.duplicates == 0
    assert stored_calls(store) == EXPECTED
    assert event_count(store) == len(GOLDEN_LINES)


def test_a_growing_file_resumes_where_it_was_left(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    log = write(tmp_path / "queue_log", GOLDEN_LINES[:30])
    import_files(store, [log])
    write(log, GOLDEN_LINES)
    summary = import_files(store, [log])
    assert summary.records == len(GOLDEN_LINES) - 30 and summary.duplicates == 0
    assert stored_calls(store) == EXPECTED


def test_an_overlapping_file_adds_only_what_is_new(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    import_files(store, [write(tmp_path / "a", GOLDEN_LINES[:40])])
    # another file (unknown fingerprint) holding lines 30..end: 30..39 are already stored
    summary = import_files(store, [write(tmp_path / "b", GOLDEN_LINES[30:])])
    assert summary.duplicates == 10
    assert event_count(store) == len(GOLDEN_LINES)
    assert stored_calls(store) == EXPECTED


def test_identical_lines_inside_one_file_are_all_kept(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    line = "1700000001|NONE|sales|Alice|PAUSE|Lunch\n"
    import_files(store, [write(tmp_path / "a", [line, line])])
    assert event_count(store) == 2
    # a new file repeating the first of them and adding a third copy: only the third is new
    import_files(store, [write(tmp_path / "b", [line, line, line, "1700000002|NONE|x|y|Z|\n"])])
    assert event_count(store) == 4


class Crash(Exception):
    pass


def test_crash_between_batches_loses_and_doubles_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_module, "CHUNK_BYTES", 300)  # many small batches
    log = write(tmp_path / "queue_log", GOLDEN_LINES)
    for crash_after in range(1, 12):
        db = tmp_path / f"w{crash_after}.db"
        store = open_store(str(db))
        commits = []

        def crash(position, commits=commits, crash_after=crash_after):
            commits.append(position)
            if len(commits) == crash_after:
                raise Crash(position)

        with pytest.raises(Crash):
            import_files(store, [log], ingester=Ingester(store, fail_after_commit=crash))
        store.close()
        store = open_store(str(db))  # the restarted process
        import_files(store, [log])
        assert event_count(store) == len(GOLDEN_LINES), crash_after
        assert stored_calls(store) == EXPECTED, crash_after
        store.close()


def test_garbage_lines_are_reported_and_kept_aside(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    mixed = tmp_path / "mixed"
    good = GOLDEN_LINES
    with open(mixed, "wb") as handle:
        handle.write(good[0].encode())
        handle.write(b"\x00\x01\x02binary\xff\xfe garbage\n")
        handle.write(good[1].encode())
        handle.write(b"1700000001|NONE|sales|Alice|PAUSE|Jos\xe9\n")  # Latin-1, not UTF-8
        handle.write(b"not a queue_log line\n")
        handle.write(b"17000x0001|NONE|sales|Alice|PAUSE|Lunch\n")
        handle.write(b"1700000001|u|sales|Alice|CONNECT|soon|m|1\n")
        handle.write(b"z" * 20000 + b"\n")
        handle.write(b"\n")
        for line in good[2:]:
            handle.write(line.encode())
        handle.write(b"1700002001|NONE|NONE|NONE|CONFIGRELOAD|")  # last line, no newline
    summary = import_files(store, [mixed])
    assert summary.records == len(good) + 1
    assert dict(summary.rejected) == {
        "bad_utf8": 2, "field_count": 1, "bad_epoch": 1, "bad_number": 1, "too_long": 1,
    }  # fmt: skip
    assert stored_calls(store) == EXPECTED
    rows = store.query("SELECT position, reason, raw FROM rejected_lines ORDER BY position")
    assert [(p, r) for p, r, _ in rows] == [
        (2, "bad_utf8"), (4, "bad_utf8"), (5, "field_count"), (6, "bad_epoch"), (7, "bad_number"),
        (8, "too_long"),
    ]  # fmt: skip
    assert rows[4][2] == "1700000001|u|sales|Alice|CONNECT|soon|m|1"


WRITER = r"""
import os, shutil, sys
path = sys.argv[1]
lines = open(sys.argv[2]).read().splitlines(keepends=True)
def append(target, chunk):
    with open(target, "a") as f:
        for line in chunk:
            f.write(line)
            f.flush()
for command in sys.stdin:
    op, a, b = command.split()
    a, b = int(a), int(b)
    if op == "append":
        append(path, lines[a:b])
    elif op == "rotate":            # logrotate's default: rename, the writer keeps its old file
        os.rename(path, path + ".1")
        append(path + ".1", lines[a:b])
        open(path, "a").close()
    elif op == "copytruncate":
        shutil.copyfile(path, path + ".2")
        with open(path, "r+") as f:
            f.truncate(0)
        append(path, lines[a:b])
    print("ok", flush=True)
"""


async def until(predicate, what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_follow_mode_tails_a_file_another_process_writes(tmp_path):
    path = tmp_path / "queue_log"
    store = open_store(str(tmp_path / "w.db"))
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(GOLDEN)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    changes = []

    def step(command: str) -> None:
        writer.stdin.write(command + "\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "ok"

    follower = QueueLogFollower(
        Ingester(store, keep_changes=True), str(path), interval=0.05, on_changes=changes.extend
    )
    try:
        await follower.start()
        step("append 0 20")
        await until(lambda: event_count(store) == 20, "20 appended lines")
        step("rotate 20 25")  # 5 more lines land in the renamed file, then a new empty file
        step("append 25 40")
        await until(lambda: event_count(store) == 40, "lines across a rename rotation")
        step("copytruncate 40 45")
        await until(lambda: event_count(store) == 45, "lines after copy-truncate")
        await follower.stop()
        step("append 45 55")  # written while the follower is down
        follower = QueueLogFollower(Ingester(store), str(path), interval=0.05)
        await follower.start()
        step(f"append 55 {len(GOLDEN_LINES)}")
        await until(lambda: event_count(store) == len(GOLDEN_LINES), "lines after a restart")
    finally:
        await follower.stop()
        writer.stdin.close()
        writer.wait(timeout=10)
    assert stored_calls(store) == EXPECTED
    calls = [c for c in changes if isinstance(c, CallChange)]
    assert calls and all(c.after.callid for c in calls)
    # beside the calls, the live side gets the rings missed and the pauses (its agent figures)
    assert {type(c) for c in changes} == {CallChange, RingMiss, IntervalChange}
    # the rotated and the copied files hold nothing new
    assert import_files(store, [tmp_path / "queue_log.1", tmp_path / "queue_log.2"]).records == 0
    assert event_count(store) == len(GOLDEN_LINES)


async def test_follow_waits_for_a_file_that_does_not_exist_yet(tmp_path):
    path = tmp_path / "queue_log"
    store = open_store(str(tmp_path / "w.db"))
    follower = QueueLogFollower(Ingester(store), str(path), interval=0.05)
    await follower.start()
    try:
        await asyncio.sleep(0.2)
        path.write_text(GOLDEN_LINES[0][:10])  # a partial first line: not yet a file we know
        await asyncio.sleep(0.2)
        assert event_count(store) == 0
        write(path, GOLDEN_LINES[:3])
        await until(lambda: event_count(store) == 3, "the first lines")
    finally:
        await follower.stop()
    assert follower.errors == 0


def test_call_events_are_found_by_time(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    import_files(store, [GOLDEN])
    events = store.call_events("c1.1")
    assert [e[4] for e in events] == [
        "DID", "ENTERQUEUE", "RINGNOANSWER", "CONNECT", "COMPLETECALLER",
    ]  # fmt: skip
    assert events[3][5] == "12|c1.2|7"
    c4 = [(e[2], e[4]) for e in store.call_events("c4.1")]
    assert c4 == [
        ("support", "ENTERQUEUE"), ("support", "EXITWITHTIMEOUT"), ("sales", "ENTERQUEUE"),
        ("sales", "CONNECT"), ("sales", "BLINDTRANSFER"),
    ]  # fmt: skip
    # not a queue call, but an Asterisk uniqueid: found from the epoch it starts with
    assert [e[4] for e in store.call_events("1700001540.7")] == ["AGENTLOGIN", "AGENTLOGOFF"]
    assert store.call_events("nothing-here") == []
    ids = [e[0] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    plan = store.query(
        "EXPLAIN QUERY PLAN SELECT id FROM queue_log_blocks WHERE last_time >= ? AND first_time <= ?",
        (0, 1),
    )
    assert any("queue_log_blocks_time" in str(step) for step in plan)


def follow_line_by_line(store, path: Path, lines: list[str]) -> None:
    """What follow mode does to a quiet centre: one small batch (one block) per poll."""
    follower = QueueLogFollower(Ingester(store), str(path))
    path.write_text("")
    for line in lines:
        with path.open("a") as handle:
            handle.write(line)
        follower.poll()
    follower._close()


def test_compacting_follow_blocks_keeps_every_event_and_id(tmp_path):
    store = open_store(str(tmp_path / "w.db"))
    log = tmp_path / "queue_log"
    follow_line_by_line(store, log, GOLDEN_LINES)
    blocks = store.query_one("SELECT COUNT(*) FROM queue_log_blocks")[0]
    assert blocks == len(GOLDEN_LINES)
    low, high = 0, 1 << 40
    events = store.events_between(low, high)
    callids = {e[2] for e in events if e[2] not in ("NONE", "MANAGER")}
    flows = {callid: store.call_events(callid) for callid in callids}
    newest = store.high_water()
    # Only what is older than `before`, in runs of at most `lines` lines.
    old = sum(1 for line in GOLDEN_LINES if int(line.split("|")[0]) < newest - 60)
    merged = store.compact_blocks(newest - 60, lines=7)
    assert 0 < merged < old
    counts = [c for (c,) in store.query("SELECT count FROM queue_log_blocks ORDER BY id")]
    assert max(counts) <= 7 and len(counts) == blocks - merged
    assert store.compact_blocks(newest + 1) > 0  # and again, everything
    assert store.query_one("SELECT COUNT(*) FROM queue_log_blocks")[0] == 1
    assert store.events_between(low, high) == events
    assert {callid: store.call_events(callid) for callid in callids} == flows
    assert event_count(store) == len(GOLDEN_LINES)
    # Importing the same lines again (another file, same content) still adds nothing, and new
    # lines go on numbering after the merged block.
    copy = write(tmp_path / "copy", GOLDEN_LINES)
    assert import_files(store, [copy]).records == 0
    more = write(tmp_path / "more", [f"{newest + 5}|NONE|support|NONE|QUEUESTART|\n"])
    import_files(store, [more])
    assert store.events_between(newest + 5, newest + 5)[0][0] == len(GOLDEN_LINES) + 1


def test_the_follower_compacts_what_it_wrote(tmp_path, monkeypatch):
    store = open_store(str(tmp_path / "w.db"))
    log = tmp_path / "queue_log"
    follow_line_by_line(store, log, GOLDEN_LINES)
    monkeypatch.setattr(ingest_module, "COMPACT_AGE", 0)
    follower = QueueLogFollower(Ingester(store), str(log))
    assert follower.compact() > 0
    assert store.query_one("SELECT COUNT(*) FROM queue_log_blocks")[0] < len(GOLDEN_LINES) // 2


def test_one_ingester_per_database_and_a_dead_holder_loses_the_lease(tmp_path):
    import time

    from wallboard.history.ingest import INGEST_LEASE, IngestBusy

    store = open_store(str(tmp_path / "w.db"))
    mine = Ingester(store, owner="wallboard serve (here)")
    assert store.take_lease(INGEST_LEASE, "wallboard serve (here)", time.time(), 60) is None
    # Another live process of this host (pid 1 always exists) holds it: refused, by name.
    store.execute("UPDATE leases SET owner = 'wallboard serve (pid 1)', pid = 1")
    with pytest.raises(IngestBusy, match=r"wallboard serve \(pid 1\) is ingesting"):
        Ingester(store, owner="wallboard import")
    with pytest.raises(IngestBusy):
        mine.renew(force=True)  # it was taken from us: stop writing
    # A holder of this host that no longer exists (a SIGKILL) loses it at once.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    store.execute("UPDATE leases SET pid = ?", (int(dead),))
    Ingester(store, owner="wallboard import").release()
    # A holder on another host is believed until it has been silent for a minute.
    store.take_lease(INGEST_LEASE, "x", time.time(), 60)
    store.execute("UPDATE leases SET host = 'other-host', pid = 1, heartbeat = ?",
                  (int(time.time()) - 30,))  # fmt: skip
    assert store.take_lease(INGEST_LEASE, "y", time.time(), 60) is not None
    store.execute("UPDATE leases SET heartbeat = ?", (int(time.time()) - 61,))
    assert store.take_lease(INGEST_LEASE, "y", time.time(), 60) is None
