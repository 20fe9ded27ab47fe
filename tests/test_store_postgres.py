"""The same store code against a real PostgreSQL: only the driver differs."""

from wallboard.history.ingest import Ingester, import_files
from wallboard.history.store import open_store

from .test_calls import EXPECTED, GOLDEN
from .test_ingest import GOLDEN_LINES, event_count, stored_calls, write


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
    store.close()
