"""The frontier's choice rule and point syntax (the sweep itself is a benchmark, not a test)."""

from __future__ import annotations

import pytest

from edgepose.bench.frontier import FrontierRow, choose, pareto, parse_point
from edgepose.errors import EdgeposeError


def _row(size, stages, tuning, evaluation, ms):
    return FrontierRow("openvino", "fp32", size, stages, latency_ms=(ms, ms), ap={"tuning": tuning, "evaluation": evaluation})


def test_choose_takes_the_smallest_size_within_tolerance_on_the_tuning_part_only():
    rows = [
        _row((368, 432), 6, 30.7, 40.0, 100.0),   # best evaluation AP, but 3.8 below the best tuning AP
        _row((432, 576), 5, 34.0, 29.7, 900.0),
        _row((432, 576), 6, 33.9, 29.6, 800.0),
        _row((480, 640), 6, 34.5, 26.9, 500.0),   # best tuning AP, measured fastest (noise), more pixels
    ]
    chosen = choose(rows, tolerance=1.0)
    assert (chosen.size, chosen.stages) == ((432, 576), 6)
    assert choose(rows, tolerance=0.3).size == (480, 640)
    assert choose([_row((368, 432), 6, 30.0, 30.0, 1.0)], part="all") is None


def test_pareto_is_fastest_first_and_drops_dominated_points():
    rows = [_row((368, 432), 3, 28.0, 0, 500.0), _row((368, 432), 6, 27.0, 0, 900.0), _row((432, 576), 6, 33.9, 0, 1200.0)]
    assert [r.stages for r in pareto(rows, "tuning")] == [3, 6]
    assert [r.size for r in pareto(rows, "tuning")] == [(368, 432), (432, 576)]


def test_parse_point():
    assert parse_point("432x576s5") == ((432, 576), 5)
    assert parse_point("480x640") == ((480, 640), 6)
    with pytest.raises(EdgeposeError):
        parse_point("432x570s6")
