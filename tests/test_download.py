"""Downloads over a real server: a CSV leaves as it is read (first bytes before the last row is
read), a client that goes away frees its report-pool thread, an error before the first rows is
the JSON error and one after them cuts the transfer (never a short file that looks whole)."""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser_support import Served
from tests.test_reports import DAY1, DAY2, DAY_ONE, DAY_TWO, URL, auth, make_client
from wallboard.history.database import QueryTimeout

DETAIL = {"entity": "reports/answered_calls_detail", "start": DAY1, "end": DAY2, "format": "csv"}
WAIT = 20  # seconds: only to turn a hang into a failure


@pytest.fixture
async def served(tmp_path: Path):
    client = make_client(tmp_path, DAY_ONE + DAY_TWO, timezone="UTC")
    app = client.app
    server = await Served(app).start()
    yield app, f"http://{server.base}"
    await server.stop()
    app.state.store.close()


def one_row_chunks(store, gate: threading.Event | None = None, fail_after: int | None = None,
                   fail_with: BaseException | None = None):  # fmt: skip
    """The store's `iterate`, one row a chunk; waits for `gate` after the first chunk, or
    raises `fail_with` after `fail_after` chunks."""
    real = store.iterate

    def iterate(sql, params=(), size=5000) -> Iterator[list[tuple]]:
        for n, chunk in enumerate(real(sql, params, size=1)):
            if fail_after is not None and n == fail_after:
                raise fail_with
            yield chunk
            if gate is not None and n == 0:
                assert gate.wait(WAIT), "the client never got the first rows"

    return iterate


async def test_the_first_rows_leave_before_the_last_is_read(served, monkeypatch) -> None:
    app, base = served
    store = app.state.store
    async with httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
        whole = await client.get(URL, params=DETAIL, headers=auth("admin"))
        assert whole.status_code == 200
        expected = list(csv.reader(io.StringIO(whole.text)))
        assert len(expected) > 3  # a header and several rows
        gate = threading.Event()
        monkeypatch.setattr(store, "iterate", one_row_chunks(store, gate))
        async with client.stream("GET", URL, params=DETAIL, headers=auth("admin")) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "text/csv; charset=utf-8"
            received = b""
            stream = answer.aiter_raw()
            while received.count(b"\r\n") < 2:  # the header and the first row...
                received += await anext(stream)
            gate.set()  # ...arrived while the reading was held after its first chunk
            async for block in stream:
                received += block
    assert list(csv.reader(io.StringIO(received.decode()))) == expected


async def test_a_client_that_goes_away_frees_its_thread(served, monkeypatch) -> None:
    app, base = served
    store = app.state.store
    monkeypatch.setattr(store, "iterate", one_row_chunks(store))  # more blocks than are queued
    async with httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
        for _ in range(6):  # twice the report pool's threads
            async with client.stream("GET", URL, params=DETAIL, headers=auth("admin")) as answer:
                assert answer.status_code == 200
                await anext(answer.aiter_raw())
            # closed after one block: the producer must stop and give its thread back
        monkeypatch.undo()
        report = await client.get(URL, params={**DETAIL, "format": "json"}, headers=auth("admin"))
        assert report.status_code == 200 and report.json()["rows"]


async def test_a_time_limit_before_the_first_rows_is_the_json_error(served, monkeypatch) -> None:
    app, base = served
    store = app.state.store
    monkeypatch.setattr(store, "iterate", one_row_chunks(
        store, fail_after=0, fail_with=QueryTimeout("the query ran past its time limit")))  # fmt: skip
    async with httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
        answer = await client.get(URL, params=DETAIL, headers=auth("admin"))
    assert answer.status_code == 503
    assert answer.json()["error"] == "report_timeout"


async def test_a_failure_after_the_first_rows_cuts_the_transfer(served, monkeypatch, caplog) -> None:
    app, base = served
    store = app.state.store
    monkeypatch.setattr(store, "iterate", one_row_chunks(
        store, fail_after=2, fail_with=OSError("disk I/O error")))  # fmt: skip
    caplog.set_level(logging.ERROR)
    async with httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
        with pytest.raises(httpx.RemoteProtocolError):  # no last chunk: the client knows
            async with client.stream("GET", URL, params=DETAIL, headers=auth("admin")) as answer:
                assert answer.status_code == 200
                async for _ in answer.aiter_raw():
                    pass
        monkeypatch.undo()
        again = await client.get(URL, params=DETAIL, headers=auth("admin"))
        assert again.status_code == 200  # and everyone else is still served
    logged = [r for r in caplog.records if "stopped after its first bytes" in r.getMessage()]
    assert logged and "disk I/O error" in str(logged[0].exc_info[1])
