"""Reports and search as downloads (`format=csv|xlsx`): the file built in the report pool and
sent as it is made.

CSV streams: a producer in the report pool pulls the rows chunk by chunk and hands the encoded
blocks over a small bounded queue, so the first bytes leave within a chunk's time, memory stays
flat, and a slow client slows the reading (its waits are not charged to the time limit). An
error before the first block is the usual JSON error; one after it aborts the transfer (the
client sees a cut download, never a short file that looks whole) and is logged. XLSX is a zip
that can only be sent once finished: it is written to a spooled temporary file first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO, Any

from starlette.responses import Response, StreamingResponse

from wallboard.history.reports import ReportParams, export
from wallboard.history.reports.export import FORMATS
from wallboard.history.store import Store

log = logging.getLogger(__name__)

QUEUED_BLOCKS = 4  # encoded chunks waiting for the client, at most
SPOOL_MAX = 8 << 20  # bytes of an XLSX kept in memory before it goes to disk
_END = object()


@dataclass
class Export:
    """A download to send: CSV blocks made as they are sent, or a finished XLSX file."""

    filename: str
    media_type: str
    blocks: Iterator[bytes] | None = None
    file: IO[bytes] | None = None


def make_export(fmt: str, name: str, params: ReportParams, columns: tuple[str, ...],
                chunks: Iterator[list[dict[str, str]]]) -> Export:  # fmt: skip
    """The download of `chunks`; run in the report pool (an XLSX is written here)."""
    span = params.start.isoformat() + ("" if params.end == params.start else f"_{params.end}")
    filename, media_type = f"{name}_{span}.{fmt}", FORMATS[fmt]
    if fmt == "csv":
        return Export(filename, media_type, blocks=export.csv_blocks(columns, chunks))
    spool: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)  # noqa: SIM115 - the response closes it
    try:
        export.write(fmt, columns, chunks, spool, name)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return Export(filename, media_type, file=spool)


class _Gone(Exception):
    """The client went away: the producer stops reading."""


@dataclass
class _Failed:
    error: BaseException


class _Pipe:
    """Blocks from the producer thread to the response, bounded, closable from either end."""

    def __init__(self, store: Store) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(QUEUED_BLOCKS)
        self._store = store
        self.closed = False

    def fill(self, blocks: Iterator[bytes]) -> None:
        """Producer (a report-pool thread): every block, then the end or the failure."""
        try:
            try:
                for block in blocks:
                    with self._store.not_counted():
                        self._put(block)
            except _Gone:
                return
            except BaseException as exc:  # noqa: BLE001 - handed to the response
                self._put(_Failed(exc))
                return
            self._put(_END)
        except _Gone:
            pass
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()  # the cursor's generator: its connection is released here
            with contextlib.suppress(queue.Full):  # wake a reader still waiting (client gone)
                self._queue.put_nowait(_END)

    def _put(self, item: Any) -> None:
        while True:
            if self.closed:
                raise _Gone
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    async def next(self) -> Any:
        return await asyncio.to_thread(self._queue.get)


async def send(store: Store, found: Export, time_limit: float) -> Response:
    """The download's response. For CSV, waits for the first block: an error before it (a time
    limit, a refused filter) is raised here for the usual JSON answer."""
    disposition = {"Content-Disposition": f'attachment; filename="{found.filename}"'}
    if found.blocks is None:
        assert found.file is not None
        return StreamingResponse(_file_blocks(found.file), media_type=found.media_type,
                                 headers=disposition)  # fmt: skip
    pipe = _Pipe(store)
    producer = asyncio.ensure_future(store.read(pipe.fill, found.blocks, time_limit=time_limit))
    first = await pipe.next()
    if isinstance(first, _Failed):
        await producer
        raise first.error
    return StreamingResponse(_streamed(pipe, producer, first, found.filename),
                             media_type=found.media_type, headers=disposition)  # fmt: skip


async def _streamed(pipe: _Pipe, producer: asyncio.Future[None], first: bytes,
                    filename: str) -> AsyncIterator[bytes]:  # fmt: skip
    try:
        item: Any = first
        while item is not _END:
            if isinstance(item, _Failed):
                log.error("download %s: stopped after its first bytes", filename,
                          exc_info=item.error)  # fmt: skip
                raise RuntimeError(f"the download {filename} failed midway") from item.error
            yield item
            item = await pipe.next()
    finally:
        pipe.closed = True  # a client gone (or done): the producer stops at its next block
        await asyncio.shield(producer)


async def _file_blocks(file: IO[bytes]) -> AsyncIterator[bytes]:
    """A finished file, read in a worker thread, closed when sent or abandoned."""
    try:
        while True:
            block = await asyncio.to_thread(file.read, 1 << 16)
            if not block:
                return
            yield block
    finally:
        file.close()
