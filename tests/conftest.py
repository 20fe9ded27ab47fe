"""Shared fixtures: service databases (a failure under CI, a skip elsewhere)."""

import os
import uuid

import pytest
import pytest_asyncio

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get("WALLBOARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not available: {exc}"
    if IN_CI:
        pytest.fail(message + " (CI must have it)")
    pytest.skip(message)


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure means "no service"
        _unavailable("PostgreSQL", exc)
    name = "wallboard_test_" + uuid.uuid4().hex[:12]
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


MYSQL_ADMIN_URL = os.environ.get("WALLBOARD_TEST_MYSQL", "mysql://root@127.0.0.1:3306/mysql")


@pytest.fixture
def mysql_url():
    """A fresh MariaDB/MySQL database for one test (over TCP), dropped afterwards."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(MYSQL_ADMIN_URL)
    try:
        import pymysql

        admin = pymysql.connect(
            host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
            user=unquote(parts.username or "root"), password=unquote(parts.password or ""),
            autocommit=True, connect_timeout=5,
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - any failure means "no service"
        _unavailable("MariaDB", exc)
    name = "wallboard_test_" + uuid.uuid4().hex[:12]
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    url = MYSQL_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


CHROMIUM = "/usr/bin/chromium"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser():
    """Debian's Chromium driven by Playwright (never `playwright install`), one per module."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + " and CI must have it")
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        await chromium.close()




@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    from tests.smtp_support import SmtpServer

    server = SmtpServer()
    server.start()
    yield server
    server.stop()
