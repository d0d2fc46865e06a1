"""The main job's target for each headline benchmark's minimum detectable change against a run
like it: its stop rule (bench/stop_rule.py) plans processes for it, and the README section
(analysis/figures.py) says which benchmarks reach it. No imports: every CLI call, a daemon's
timed startup among them, reads the stop rule."""

TARGET_MDC = 0.10
