"""The dashboard figures in the Prometheus text format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class FiguresCollector(Collector):
    def __init__(self, figures: dict[str, Any]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        process = f["process"]
        streams = GaugeMetricFamily(
            "sse_open_streams", "Open event streams on this process", labels=["process"]
        )
        streams.add_metric([process], f["streams"])
        yield streams
        kinds = GaugeMetricFamily(
            "sse_open_streams_by_kind",
            "Open streams reading at least one channel of a kind (the name before the first dot)",
            labels=["process", "kind"],
        )
        for kind, count in f["by_kind"].items():
            kinds.add_metric([process, kind], count)
        yield kinds
        if f["published_total"] is not None:
            published = CounterMetricFamily(
                "sse_events_published", "Events published by every process sharing the event log"
            )
            published.add_metric([], f["published_total"])
            yield published
        for name, key, doc in (
            ("sse_events_received", "received_total", "Events that reached this process's hub"),
            ("sse_events_delivered", "delivered_total", "Event copies queued to open streams"),
            ("sse_slow_consumer_disconnects", "slow_disconnects", "Streams closed for falling behind"),
            ("sse_resumes", "resumes", "Streams that resumed from a Last-Event-ID"),
            ("sse_resets", "resets", "Streams told to reset (id unknown or too old)"),
            ("sse_events_conflated", "conflated", "Events of throttled channels replaced by a later one"),
        ):
            family = CounterMetricFamily(name, doc, labels=["process"])
            family.add_metric([process], f[key])
            yield family
        lag = GaugeMetricFamily(
            "sse_delivery_lag_seconds",
            "Publish-to-fan-out lag over the last 10 s",
            labels=["process", "quantile"],
        )
        for quantile, key in (("0.5", "lag_p50_ms"), ("0.99", "lag_p99_ms")):
            if f[key] is not None:
                lag.add_metric([process, quantile], f[key] / 1000)
        yield lag


def render(figures: dict[str, Any]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(figures))
    return generate_latest(registry)
