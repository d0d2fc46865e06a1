"""Reading and judging runs: run directories, the tidy results table, statistics, tables,
headline, plots and the rendered report. Reads what the benchmarks wrote; runs nothing."""
