"""The SMTP client every e-mail of the product goes through (scheduled reports, alerts, `check`):
the `smtp_*` settings applied one way. Blocking: call it from a worker thread."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from wallboard.config import Settings

SMTP_TIMEOUT = 60.0  # seconds for each exchange with the mail server


def sender(settings: Settings) -> str:
    """The From address: `smtp_from`, else wallboard@ this machine's name."""
    return settings.smtp_from or f"wallboard@{socket.gethostname()}"


@contextmanager
def connected(settings: Settings, smtp: Any = smtplib, timeout: float = SMTP_TIMEOUT) -> Iterator[Any]:
    """A client of `smtp_host`, ready to send: TLS from the start (`tls`), upgraded (`starttls`,
    refused if the server cannot) or plain (`none`); logged in when `smtp_user` is set. `smtp`
    is the smtplib module (tests give a stand-in)."""
    host, port = settings.smtp_host or "localhost", settings.smtp_port
    context = ssl.create_default_context()
    if settings.smtp_tls == "tls":
        client = smtp.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtp.SMTP(host, port, timeout=timeout)
    with client:
        if settings.smtp_tls == "starttls":
            client.starttls(context=context)
        if settings.smtp_user:
            client.login(settings.smtp_user, settings.smtp_password or "")
        yield client


def deliver(settings: Settings, message: EmailMessage, smtp: Any = smtplib) -> None:
    """Send one message through the configured server."""
    with connected(settings, smtp) as client:
        client.send_message(message)


def probe(settings: Settings, timeout: float = 10.0) -> str:
    """Connect, upgrade and log in as a send would, and send nothing: what the server said
    (SMTPException or OSError when it cannot be used)."""
    with connected(settings, timeout=timeout) as client:
        code, text = client.noop()
        if code != 250:
            raise smtplib.SMTPResponseException(code, text)
        greeting = (client.ehlo_resp or b"").decode("utf-8", "replace").splitlines()
        return greeting[0] if greeting else "ready"
