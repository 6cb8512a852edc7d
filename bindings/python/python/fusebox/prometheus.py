"""fusebox's metrics in a prometheus_client registry.

The text comes from the core's one Prometheus writer (what
``Registry.prometheus()``, ``KeyedBreakers.prometheus()`` and
``Bulkhead.prometheus()`` return); this module only reads it back with
prometheus_client's own parser, so names, help, types, labels and values are
the core's. ``pip install "./bindings/python[prometheus]"``.

>>> import fusebox, fusebox.prometheus
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> registry = fusebox.Registry()
>>> registry.get_or_create("inventory:get").call(lambda: 1)
1
>>> metrics = CollectorRegistry()
>>> metrics.register(fusebox.prometheus.Collector(registry))
>>> b'fusebox_calls_total{breaker="inventory:get",outcome="success"} 1.0' in generate_latest(metrics)
True
"""

from __future__ import annotations

from typing import Iterator, Protocol

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Collector", "PrometheusSource"]


class PrometheusSource(Protocol):
    """Anything that writes fusebox's Prometheus text."""

    def prometheus(self) -> str: ...


class Collector:
    """A prometheus_client collector over a fusebox source (a ``Registry``,
    ``fusebox.registry()``, a ``KeyedBreakers``, a ``Bulkhead``): each
    scrape reads the source's text once.

    ``REGISTRY.register(fusebox.prometheus.Collector(registry))``
    """

    def __init__(self, source: PrometheusSource) -> None:
        if not callable(getattr(source, "prometheus", None)):
            raise TypeError(
                "fusebox.prometheus.Collector: source must have a prometheus() method "
                f"(Registry, KeyedBreakers, Bulkhead), got {type(source).__name__}"
            )
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from text_string_to_metric_families(self._source.prometheus())
