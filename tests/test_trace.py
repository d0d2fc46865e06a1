from __future__ import annotations

import json

import pytest

from workbench.trace import Tracer


def test_nested_spans_record_depth_attrs_and_order():
    t = Tracer()
    with t.span("outer", binary="b") as sp:
        with t.span("inner", command="query-version"):
            pass
        sp.set(outcome="probe")
    inner, outer = t.records()
    assert (inner.name, inner.depth, inner.attrs) == ("inner", 1, {"command": "query-version"})
    assert (outer.name, outer.depth, outer.attrs) == ("outer", 0, {"binary": "b", "outcome": "probe"})
    assert outer.start_ns <= inner.start_ns <= inner.end_ns <= outer.end_ns


def test_error_is_recorded_and_depth_restored():
    t = Tracer()
    with pytest.raises(ValueError):
        with t.span("fails"):
            raise ValueError("x")
    with t.span("after"):
        pass
    fails, after = t.records()
    assert fails.attrs["error"] == "ValueError" and after.depth == 0


def test_disabled_tracer_records_no_spans_but_counts():
    t = Tracer(enabled=False)
    with t.span("x") as sp:
        sp.set(a=1)
    t.count("probe")
    assert t.records() == [] and t.counters["probe"] == 1


def test_exports_rows_dataframe_and_chrome_json(tmp_path):
    t = Tracer()
    with t.span("probe", binary="/b"):
        pass
    t.count("cache.probe", 2)
    rows = t.rows()
    assert rows[0]["span"] == "probe" and rows[0]["binary"] == "/b" and rows[0]["duration_s"] >= 0
    df = t.dataframe()
    assert list(df["span"]) == ["probe"]
    path = t.write_chrome_trace(tmp_path / "trace.json")
    doc = json.loads(path.read_text())
    kinds = {e["ph"] for e in doc["traceEvents"]}
    assert kinds == {"X", "C"}
    x = next(e for e in doc["traceEvents"] if e["ph"] == "X")
    assert x["name"] == "probe" and x["args"] == {"binary": "/b"} and x["dur"] >= 0


def test_thread_id_is_the_native_one_perfetto_keeps():
    import threading

    t = Tracer()
    with t.span("x"):
        pass
    (r,) = t.records()
    assert r.tid == threading.get_native_id() and 0 < r.tid < 2**32


def test_counters_are_exported_as_a_series_of_samples(tmp_path):
    t = Tracer()
    t.count("cache.probe")
    with t.span("between"):
        pass
    t.count("cache.probe", 2)
    doc = json.loads(t.write_chrome_trace(tmp_path / "trace.json").read_text())
    samples = [e for e in doc["traceEvents"] if e["ph"] == "C"]
    assert [s["args"]["value"] for s in samples] == [1, 3]
    span = next(e for e in doc["traceEvents"] if e["ph"] == "X")
    # each sample at the time it was taken: one before the span, one after it
    assert samples[0]["ts"] <= span["ts"] <= span["ts"] + span["dur"] <= samples[1]["ts"]
