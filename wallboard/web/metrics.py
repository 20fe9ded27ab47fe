"""Prometheus metrics (`metrics = true`): `/metrics`, or a port of its own (`metrics_port`).

The components keep their own counters (the AMI listener, the queue_log follower, the hub, the
store); a collector reads them at scrape time, so nothing on the live path pays for metrics.
REST requests are counted and timed here, per entity. Each app has its own registry.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

REST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The metrics of one app: REST instruments plus a collector over `app.state`."""

    def __init__(self, state: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.rest_requests = Counter(
            "wallboard_rest_requests", "REST API requests by entity and HTTP status",
            ["entity", "status"], registry=self.registry,
        )  # fmt: skip
        self.rest_seconds = Histogram(
            "wallboard_rest_request_seconds", "REST API answer time by entity",
            ["entity"], buckets=REST_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(_StateCollector(state))

    def observe_rest(self, entity: str, status: int, seconds: float) -> None:
        self.rest_requests.labels(entity, str(status)).inc()
        self.rest_seconds.labels(entity).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def entity_label(entity: str | None) -> str:
    """`reports/agent_sessions` stays; a call id or a queue id in the path does not (bounded
    label values)."""
    if not entity:
        return "none"
    kind, _, arg = entity.strip("/").partition("/")
    if kind == "reports" and arg:
        return f"reports/{arg[:64]}"
    if kind in ("reports", "realtime", "queues", "agents", "call", "search"):
        return kind
    return "unknown"


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics` in the Prometheus text format."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


class _StateCollector(Collector):
    """Reads the live components' counters when Prometheus scrapes."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        live = getattr(self.state, "live", None)
        yield from _ami(getattr(live, "listeners", None) or {})
        yield from _sources(getattr(live, "sources", None) or {})
        yield from _hub(getattr(live, "hub", None))
        yield from _store(getattr(self.state, "store", None))
        yield from _alerts(live, getattr(self.state, "notifier", None))
        yield _one(GaugeMetricFamily, "wallboard_up_since_seconds",
                   "When this process started (epoch)", getattr(self.state, "started", time.time()))  # fmt: skip


Family = type[CounterMetricFamily] | type[GaugeMetricFamily]


def _one(kind: Family, name: str, text: str, value: float) -> Metric:
    """A metric without labels."""
    family = kind(name, text)
    family.add_metric([], value)
    return family


def _by(kind: Family, name: str, text: str, label: str, values: Mapping[str, float]) -> Metric:
    """A metric with one label, a sample per key of `values` (sorted)."""
    family = kind(name, text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _per_pbx(kind: Family, name: str, text: str, labels: list[str],
             samples: Iterable[tuple[list[str], float]]) -> Metric:  # fmt: skip
    """A metric labelled by PBX (and `labels` after it)."""
    family = kind(name, text, labels=["pbx", *labels])
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _ami(listeners: Mapping[str, Any]) -> Iterator[Metric]:
    links = sorted(listeners.items())
    up = _per_pbx(GaugeMetricFamily, "wallboard_ami_up",
                  "1 while the AMI link is logged in and synced", [],
                  (([pbx], 1.0 if link.synced.is_set() else 0.0) for pbx, link in links))  # fmt: skip
    if not links:
        up.add_metric(["none"], 0.0)
    yield up
    for name, text in (
        ("connects", "TCP connections made to the AMI"),
        ("logins", "successful AMI logins"),
        ("auth_failures", "refused AMI logins"),
        ("disconnects", "AMI sessions lost after they were synced (reconnects follow)"),
        ("resyncs", "QueueStatus resyncs applied"),
    ):
        yield _per_pbx(CounterMetricFamily, f"wallboard_ami_{name}", text, [],
                       (([pbx], link.stats[name]) for pbx, link in links))  # fmt: skip
    yield _per_pbx(CounterMetricFamily, "wallboard_ami_events", "AMI events received", ["event"],
                   (([pbx, event], count) for pbx, link in links
                    for event, count in sorted(link.event_types.items())))  # fmt: skip
    yield _per_pbx(CounterMetricFamily, "wallboard_ami_malformed", "malformed AMI events skipped",
                   ["event"], (([pbx, event], count) for pbx, link in links
                               for event, count in sorted(link.malformed_types.items())))  # fmt: skip
    yield _per_pbx(CounterMetricFamily, "wallboard_ami_framing_errors",
                   "AMI messages dropped by the framer", ["reason"],
                   (([pbx, reason], link.stats[reason]) for pbx, link in links
                    for reason in ("oversized", "too_many_headers")))  # fmt: skip


def _sources(sources: Mapping[str, Any]) -> Iterator[Metric]:
    """The history sources: the queue_log file, the realtime table, AMI itself."""
    found = sorted(sources.items())
    lags = [(pbx, source.lag()) for pbx, source in found]
    yield _per_pbx(GaugeMetricFamily, "wallboard_queue_log_lag_seconds",
                   "how long the history source has been behind what there is to read", [],
                   (([pbx], seconds) for pbx, (_, seconds) in lags))  # fmt: skip
    yield _per_pbx(GaugeMetricFamily, "wallboard_queue_log_lag_bytes",
                   "what the history source has not read yet (bytes of a file, rows of a"
                   " table, buffered AMI items)", [],
                   (([pbx], behind) for pbx, (behind, _) in lags))  # fmt: skip
    yield _per_pbx(CounterMetricFamily, "wallboard_queue_log_lines",
                   "queue_log lines (rows, AMI-derived lines) read", [],
                   (([pbx], source.summary.lines) for pbx, source in found))  # fmt: skip
    yield _per_pbx(CounterMetricFamily, "wallboard_queue_log_rejected_lines",
                   "queue_log lines rejected", ["reason"],
                   (([pbx, reason], count) for pbx, source in found
                    for reason, count in sorted(source.summary.rejected.items())))  # fmt: skip
    yield _per_pbx(CounterMetricFamily, "wallboard_queue_log_errors",
                   "history source errors (logged)", [],
                   (([pbx], source.errors) for pbx, source in found))  # fmt: skip


def _hub(hub: Any) -> Iterator[Metric]:
    if hub is None:
        return
    yield _by(GaugeMetricFamily, "wallboard_ws_clients", "websocket clients connected, by view",
              "view", hub.clients_per_view())  # fmt: skip
    counters = hub.counters
    for name, key, text in (
        ("messages_sent", "messages_sent", "websocket messages sent to clients"),
        ("bytes_sent", "bytes_sent", "websocket message bytes sent to clients"),
        ("patches", "patches", "patches encoded (once per view)"),
        ("slow_client_drops", "closed_slow", "clients closed for falling behind"),
        ("overflows", "overflows", "client queues replaced by a snapshot"),
        ("send_errors", "send_errors", "websocket sends that failed"),
    ):
        yield _one(CounterMetricFamily, f"wallboard_ws_{name}", text, counters.get(key, 0))


def _alerts(live: Any, notifier: Any) -> Iterator[Metric]:
    state = getattr(live, "state", None)
    if state is not None:
        yield _by(GaugeMetricFamily, "wallboard_alerts_firing",
                  "subjects (queues, agents, PBXs) an alert rule fires for now", "rule",
                  state.alerts_firing())  # fmt: skip
    if notifier is None:
        return
    family = CounterMetricFamily("wallboard_alert_messages", "alert messages by rule, channel"
                                 " and outcome (sent, failed, rate-limited)",
                                 labels=["rule", "channel", "status"])  # fmt: skip
    for (rule, channel, status), count in sorted(notifier.outcomes.items()):
        family.add_metric([rule, channel, status], count)
    yield family
    yield _one(CounterMetricFamily, "wallboard_alert_messages_dropped",
               "alert messages dropped: the send queue was full", notifier.dropped)  # fmt: skip


def _store(store: Any) -> Iterator[Metric]:
    if store is None:
        return
    timings = store.timings
    yield _by(CounterMetricFamily, "wallboard_db_seconds", "time spent in the database", "kind",
              {kind: spent for kind, (_, spent) in timings.items()})  # fmt: skip
    yield _by(CounterMetricFamily, "wallboard_db_statements",
              "queries (read) and transactions (write)", "kind",
              {kind: count for kind, (count, _) in timings.items()})  # fmt: skip
