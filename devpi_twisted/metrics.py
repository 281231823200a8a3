"""Counters, histograms and gauges in one registry, rendered in Prometheus text format 0.0.4."""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from typing import Callable, Iterator, Sequence, Union

#: The Content-Type of L{Metrics.render}'s text.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

#: One sample: the name suffix, its label names and values, its value.
_Sample = tuple[str, tuple[str, ...], tuple[object, ...], float]


def _check_names(name: str, labels: Sequence[str]) -> tuple[str, ...]:
    if not _NAME.match(name):
        raise ValueError(f"invalid metric name {name!r}")
    for label in labels:
        if not _LABEL.match(label) or label.startswith("__") or label == "le":
            raise ValueError(f"invalid label name {label!r} of {name}")
    return tuple(labels)


def escape_label_value(value: str) -> str:
    """A label value as the text format quotes it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as the text format writes it (C{+Inf}, C{NaN}, integers without C{.0})."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


class Counter:
    """
    A count that only goes up, one per combination of label values. Label
    values are given in the order of C{labels} and rendered with C{str}.
    """

    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.labels = _check_names(name, labels)
        self._values: dict[tuple[object, ...], float] = {} if labels else {(): 0}

    def inc(self, *values: object, amount: float = 1) -> None:
        """Add C{amount} to the count of the label C{values}."""
        if len(values) != len(self.labels) or amount < 0:
            raise ValueError(f"{self.name} takes {len(self.labels)} label values and amounts >= 0")
        self._values[values] = self._values.get(values, 0) + amount

    def value(self, *values: object) -> float:
        """The count of the label C{values} (0 if never counted)."""
        return self._values.get(values, 0)

    def samples(self) -> Iterator[_Sample]:
        for values, count in self._values.items():
            yield "", self.labels, values, count


class Histogram:
    """
    Observations counted into fixed buckets (upper bounds, C{+Inf} added),
    with their sum and count, one series per combination of label values.
    """

    kind = "histogram"

    def __init__(
        self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.help = help
        self.labels = _check_names(name, labels)
        bounds = tuple(float(bound) for bound in buckets if not math.isinf(bound))
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must be increasing and not empty")
        self.buckets = bounds
        #: per label values: the count in each bucket (not cumulative), the +Inf one, the sum
        self._series: dict[tuple[object, ...], list[float]] = {}
        if not labels:
            self._series[()] = [0] * (len(bounds) + 2)

    def observe(self, amount: float, *values: object) -> None:
        """Count C{amount} in the series of the label C{values}."""
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.labels):
                raise ValueError(f"{self.name} takes {len(self.labels)} label values")
            series = self._series[values] = [0] * (len(self.buckets) + 2)
        series[bisect_left(self.buckets, amount)] += 1
        series[-1] += amount

    def count(self, *values: object) -> int:
        """How many observations the series of the label C{values} has."""
        series = self._series.get(values)
        return 0 if series is None else int(sum(series[:-1]))

    def samples(self) -> Iterator[_Sample]:
        names = self.labels + ("le",)
        bounds = [format_value(bound) for bound in self.buckets] + ["+Inf"]
        for values, series in self._series.items():
            total: float = 0
            for bound, count in zip(bounds, series):
                total += count
                yield "_bucket", names, values + (bound,), total
            yield "_sum", self.labels, values, series[-1]
            yield "_count", self.labels, values, total


class Gauge:
    """A value read from C{read} at each scrape."""

    kind = "gauge"

    def __init__(self, name: str, help: str, read: Callable[[], float]) -> None:
        self.name = name
        self.help = help
        self.labels = _check_names(name, ())
        self.read = read

    def samples(self) -> Iterator[_Sample]:
        yield "", (), (), self.read()


Metric = Union[Counter, Histogram, Gauge]


class Metrics:
    """
    A server's metrics by name. Asking for a name again returns the metric
    already there (a gauge then reads from the newest C{read}); asking for it
    as another kind, or with other labels or buckets, is a L{ValueError}.
    """

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        """The counter C{name} with label names C{labels}."""
        counter = self._add(Counter(name, help, labels))
        assert isinstance(counter, Counter)
        return counter

    def histogram(
        self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> Histogram:
        """The histogram C{name} with bucket upper bounds C{buckets} and label names C{labels}."""
        histogram = self._add(Histogram(name, help, buckets, labels))
        assert isinstance(histogram, Histogram)
        return histogram

    def gauge(self, name: str, help: str, read: Callable[[], float]) -> Gauge:
        """The gauge C{name}, whose value C{read} returns when scraped."""
        gauge = self._add(Gauge(name, help, read))
        assert isinstance(gauge, Gauge)
        gauge.read = read
        return gauge

    def _add(self, metric: Metric) -> Metric:
        existing = self._metrics.setdefault(metric.name, metric)
        if existing is not metric and (
            existing.kind != metric.kind
            or existing.labels != metric.labels
            or getattr(existing, "buckets", None) != getattr(metric, "buckets", None)
        ):
            raise ValueError(f"metric {metric.name} exists already as another {existing.kind}")
        return existing

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format 0.0.4."""
        lines = []
        for metric in self._metrics.values():
            help = metric.help.replace("\\", "\\\\").replace("\n", "\\n")
            lines.append(f"# HELP {metric.name} {help}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            for suffix, names, values, value in metric.samples():
                labels = ",".join(
                    f'{name}="{escape_label_value(str(label))}"'
                    for name, label in zip(names, values)
                )
                series = f"{metric.name}{suffix}{{{labels}}}" if labels else metric.name + suffix
                lines.append(f"{series} {format_value(value)}")
        return "".join(line + "\n" for line in lines)
