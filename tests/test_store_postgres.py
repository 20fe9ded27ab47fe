"""The same store code against a real PostgreSQL: only the driver differs."""

from datetime import timedelta

from bench.synth import DEFAULT_START, generate
from wallboard.auth import User
from wallboard.config import Settings
from wallboard.history import coverage
from wallboard.history.ingest import Ingester, import_files
from wallboard.history.reports import ReportParams
from wallboard.history.store import open_store

from .test_calls import EXPECTED, GOLDEN
from .test_ingest import GOLDEN_LINES, event_count, stored_calls, write
from .test_summary import ADMIN, both_paths


def test_golden_import_into_postgresql(pg_url, tmp_path):
    store = open_store(pg_url)
    first = write(tmp_path / "a", GOLDEN_LINES[:23])
    import_files(store, [first])
    store.close()
    store = open_store(pg_url)  # a restart: migrations are not re-run, open calls reload
    import_files(store, [GOLDEN], ingester=Ingester(store))
    assert stored_calls(store) == EXPECTED
    assert event_count(store) == len(GOLDEN_LINES)
    assert import_files(store, [GOLDEN]).records == 0
    assert store.query_one("SELECT max(version) FROM schema_version")[0] >= 1
    events = store.events_between(0, 1 << 40)
    assert store.compact_blocks(store.high_water() + 1) == 1  # the two imports' blocks, merged
    assert store.events_between(0, 1 << 40) == events
    store.close()


def test_reports_agree_on_postgresql(pg_url, tmp_path):
    """Every report over the summaries (agent_cover_days included, with an agent still logged
    in) equals the raw tables on PostgreSQL too."""
    log = tmp_path / "queue_log"
    generate(log, agents=6, queues=2, days=3, seed=2)
    lines = log.read_text().splitlines(keepends=True)
    last = int(lines[-1].split("|")[0])
    lines.append(f"{last + 10}|MANAGER|5001|PJSIP/9999|ADDMEMBER|\n")
    log.write_text("".join(lines))
    store = open_store(pg_url)
    import_files(store, [log])
    agents = [a for (a,) in store.query("SELECT name FROM agents ORDER BY name")]
    users = [ADMIN, User("two", agents=frozenset(agents[:2]))]
    for start, days in ((DEFAULT_START, 3), (DEFAULT_START + timedelta(days=1), 0)):
        params = ReportParams(start, start + timedelta(days=days), now=last + 3600)
        assert both_paths(store, Settings(), params, users) > 0
    cover = store.query("SELECT * FROM agent_cover_days ORDER BY day, agent")
    intervals = store.query("SELECT agent, kind, start_time, end_time FROM agent_intervals")
    assert cover and sorted(coverage.backfill_rows(intervals)) == cover
    store.close()
