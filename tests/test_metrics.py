"""The metrics registry and its Prometheus text exposition."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from devpi_twisted.metrics import Metrics, escape_label_value, format_value


class CounterTests(TestCase):
    def setUp(self) -> None:
        self.metrics = Metrics()

    def test_counts_per_label_values_and_renders_help_type_and_samples(self) -> None:
        counter = self.metrics.counter("app_requests_total", "Requests.", ("route", "status"))
        counter.inc("simple", 200)
        counter.inc("simple", 200)
        counter.inc("files", 404, amount=3)
        self.assertEqual((counter.value("simple", 200), counter.value("files", 404)), (2, 3))
        self.assertEqual(counter.value("files", 200), 0)
        self.assertEqual(
            self.metrics.render(),
            "# HELP app_requests_total Requests.\n"
            "# TYPE app_requests_total counter\n"
            'app_requests_total{route="simple",status="200"} 2\n'
            'app_requests_total{route="files",status="404"} 3\n',
        )

    def test_an_unlabelled_counter_is_rendered_before_it_counts(self) -> None:
        self.metrics.counter("app_hits_total", "Hits.")
        self.assertIn("\napp_hits_total 0\n", self.metrics.render())

    def test_label_values_and_help_are_escaped(self) -> None:
        counter = self.metrics.counter("app_total", 'Back\\slash and\nnewline.', ("path",))
        counter.inc('a"b\\c\nd')
        text = self.metrics.render()
        self.assertIn("# HELP app_total Back\\\\slash and\\nnewline.\n", text)
        self.assertIn('app_total{path="a\\"b\\\\c\\nd"} 1\n', text)
        self.assertEqual(escape_label_value('"'), '\\"')

    def test_wrong_label_count_and_negative_amounts_are_refused(self) -> None:
        counter = self.metrics.counter("app_total", "Things.", ("kind",))
        self.assertRaises(ValueError, counter.inc)
        self.assertRaises(ValueError, counter.inc, "a", "b")
        self.assertRaises(ValueError, counter.inc, "a", amount=-1)
        self.assertEqual(self.metrics.render().count("\n"), 2)


class HistogramTests(TestCase):
    def test_buckets_are_cumulative_with_inf_sum_and_count(self) -> None:
        metrics = Metrics()
        histogram = metrics.histogram("app_seconds", "Durations.", (0.1, 1), ("route",))
        for amount in (0.05, 0.1, 0.5, 7):
            histogram.observe(amount, "simple")
        self.assertEqual(histogram.count("simple"), 4)
        self.assertEqual(histogram.count("files"), 0)
        self.assertEqual(
            metrics.render(),
            "# HELP app_seconds Durations.\n"
            "# TYPE app_seconds histogram\n"
            'app_seconds_bucket{route="simple",le="0.1"} 2\n'
            'app_seconds_bucket{route="simple",le="1"} 3\n'
            'app_seconds_bucket{route="simple",le="+Inf"} 4\n'
            'app_seconds_sum{route="simple"} 7.65\n'
            'app_seconds_count{route="simple"} 4\n',
        )

    def test_an_unlabelled_histogram_starts_at_zero(self) -> None:
        metrics = Metrics()
        metrics.histogram("app_seconds", "Durations.", (1,))
        self.assertIn(
            'app_seconds_bucket{le="+Inf"} 0\napp_seconds_sum 0\napp_seconds_count 0\n',
            metrics.render(),
        )

    def test_buckets_must_increase(self) -> None:
        metrics = Metrics()
        self.assertRaises(ValueError, metrics.histogram, "a_seconds", "A.", (1, 0.5))
        self.assertRaises(ValueError, metrics.histogram, "b_seconds", "B.", ())
        self.assertRaises(ValueError, metrics.histogram, "c_seconds", "C.", (1,), ("le",))


class GaugeTests(TestCase):
    def test_is_read_at_each_render(self) -> None:
        metrics = Metrics()
        values = [3, 2.5]
        metrics.gauge("app_serial", "Serial.", values.pop)
        self.assertIn("\napp_serial 2.5\n", metrics.render())
        self.assertIn("# TYPE app_serial gauge\napp_serial 3\n", metrics.render())

    def test_asking_again_reads_from_the_newest_callable(self) -> None:
        metrics = Metrics()
        first = metrics.gauge("app_lag", "Lag.", lambda: 1)
        second = metrics.gauge("app_lag", "Lag.", lambda: 2)
        self.assertIs(first, second)
        self.assertIn("\napp_lag 2\n", metrics.render())


class RegistryTests(TestCase):
    def test_asking_for_a_name_again_returns_the_same_metric(self) -> None:
        metrics = Metrics()
        counter = metrics.counter("app_total", "Things.", ("kind",))
        self.assertIs(metrics.counter("app_total", "Things.", ("kind",)), counter)
        histogram = metrics.histogram("app_seconds", "Durations.", (1, 2))
        self.assertIs(metrics.histogram("app_seconds", "Durations.", (1, 2)), histogram)

    def test_a_name_taken_by_another_kind_or_labels_is_refused(self) -> None:
        metrics = Metrics()
        metrics.counter("app_total", "Things.", ("kind",))
        metrics.histogram("app_seconds", "Durations.", (1, 2))
        self.assertRaises(ValueError, metrics.gauge, "app_total", "Things.", lambda: 1)
        self.assertRaises(ValueError, metrics.counter, "app_total", "Things.", ("other",))
        self.assertRaises(ValueError, metrics.histogram, "app_seconds", "Durations.", (1, 3))

    def test_invalid_names_are_refused(self) -> None:
        metrics = Metrics()
        self.assertRaises(ValueError, metrics.counter, "app-total", "Bad name.")
        self.assertRaises(ValueError, metrics.counter, "1_total", "Bad name.")
        self.assertRaises(ValueError, metrics.counter, "app_total", "Bad label.", ("a-b",))
        self.assertRaises(ValueError, metrics.counter, "app_total", "Reserved.", ("__x",))
        self.assertEqual(metrics.render(), "")

    def test_metrics_render_in_the_order_they_were_made(self) -> None:
        metrics = Metrics()
        metrics.gauge("b_gauge", "B.", lambda: 0)
        metrics.counter("a_total", "A.")
        text = metrics.render()
        self.assertLess(text.index("b_gauge"), text.index("a_total"))


class FormatValueTests(TestCase):
    def test_values(self) -> None:
        self.assertEqual(
            [format_value(v) for v in (3, 2.0, 0.25, float("inf"), float("-inf"), float("nan"), 1e20)],
            ["3", "2", "0.25", "+Inf", "-Inf", "NaN", "1e+20"],
        )
