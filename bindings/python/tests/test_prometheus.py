"""fusebox.prometheus: the core's text in a prometheus_client registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import fusebox
import fusebox.prometheus


def samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_a_registry_scraped_through_prometheus_client_is_the_core_text() -> None:
    clock = fusebox.ManualClock()
    registry = fusebox.Registry(clock=clock, consecutive_failures=2)
    odd = 'a"b\nc\\d'  # a quote, a newline and a backslash in a name
    b = registry.get_or_create(odd)
    b.call(lambda: 1)
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            b.call(lambda: 1 / 0)
    assert b.state == "open"
    metrics = CollectorRegistry()
    metrics.register(fusebox.prometheus.Collector(registry))
    text = generate_latest(metrics).decode()
    # Every sample of the core's text is in prometheus_client's, same labels
    # and values; prometheus_client wrote the odd name back escaped.
    assert samples(registry.prometheus()) <= samples(text)
    assert ("fusebox_state", (("breaker", odd), ("state", "open")), 1.0) in samples(text)
    assert 'breaker="a\\"b\\nc\\\\d"' in text


def test_keyed_sets_too_and_bad_sources_are_type_errors() -> None:
    hosts = fusebox.KeyedBreakers("upstreams", 4, clock=fusebox.ManualClock())
    hosts.get_or_create("a.example").call(lambda: 1)
    metrics = CollectorRegistry()
    metrics.register(fusebox.prometheus.Collector(hosts))
    text = generate_latest(metrics).decode()
    assert 'fusebox_calls_total{breaker="a.example",outcome="success"} 1.0' in text
    with pytest.raises(TypeError, match="prometheus"):
        fusebox.prometheus.Collector(object())  # type: ignore[arg-type]
