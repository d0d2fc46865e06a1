"""The one way a notebook shows a table: readable units, 3 significant figures, a caption that
says where the numbers come from, and the full table as CSV beside the page.

The CSV keeps the raw columns (seconds, full precision) plus a `provenance` column, so a table
taken out of the report still says what it is; the page shows a formatted copy:
- columns named `*_s` hold seconds: each such column gets its own unit (s, ms or µs, picked
  from its median magnitude) named in the header;
- `ratio*` columns read "27.7×", `*_pct` columns "12.3%", every other float 3 significant
  figures, integers as they are, missing values as "–";
- no index column, human column names (COLUMN_NAMES, else underscores become spaces);
- at most MAX_ROWS rows, with a link to the CSV holding them all.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

MAX_ROWS = 15
KINDS = ("measured", "replayed", "modelled", "recorded")
# Raw column name -> what a reader sees (the unit is added to time columns).
COLUMN_NAMES = {
    "n_emulators": "emulators", "n": "emulators", "median_s": "median", "q1_s": "Q1", "q3_s": "Q3",
    "values": "values", "time_s": "time", "before_s": "before", "after_s": "after",
    "ratio": "ratio", "strategy": "strategy", "benchmark": "benchmark", "cache": "cache",
    "case": "case", "phase": "phase", "share_pct": "share", "total_s": "total",
    "calls": "calls", "target": "target", "command": "QMP command", "run": "run",
}
UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
DASH = "–"


def sig(value: float, digits: int = 3) -> str:
    """`value` to `digits` significant figures without an exponent: 4.38, 0.160, 1,230, 57,984
    -> 58,000."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) != math.floor(math.log10(abs(value))):
        decimals -= 1  # 9.996 -> 10.0, not 10.00
        rounded = round(value, decimals)
    return f"{rounded:,.{max(decimals, 0)}f}"


def time_unit(seconds: Sequence[float]) -> tuple[str, float]:
    """The unit in which the column's median magnitude reads >= 1 (s, ms, µs or ns)."""
    vals = [abs(v) for v in seconds if v is not None and not pd.isna(v) and v != 0]
    if not vals:
        return "s", 1.0
    mid = float(pd.Series(vals).median())
    return next(((u, f) for u, f in UNITS if mid >= f), UNITS[-1])


def fmt_duration(seconds: float) -> str:
    """One duration with its own unit and 3 significant figures: 4.38 s, 0.1 ms -> 100 µs."""
    if seconds is None or pd.isna(seconds):
        return DASH
    unit, f = time_unit([seconds])
    return f"{sig(seconds / f)} {unit}"


def fmt_ratio(r: float) -> str:
    return DASH if r is None or pd.isna(r) else f"{sig(r)}×"


def human(name: str) -> str:
    if name in COLUMN_NAMES:
        return COLUMN_NAMES[name]
    base = name[:-2] if name.endswith("_s") else name[:-4] if name.endswith("_pct") else name
    return base.replace("_", " ")


def _flat(col) -> str:
    """A pivoted frame's column tuple -> one name ('full-caps · cold')."""
    if isinstance(col, tuple):
        return " · ".join(str(c) for c in col if str(c) != "")
    return str(col)


def _is_time(name: str) -> bool:
    return name.endswith("_s") or name.endswith(" (s)")


@dataclass(frozen=True)
class Formatted:
    """What a notebook displays: the formatted frame, its HTML and the CSV written beside it."""
    frame: pd.DataFrame
    html: str
    csv: Path | None

    def _repr_html_(self) -> str:  # Jupyter shows this object as the HTML table
        return self.html


def format_frame(df: pd.DataFrame, time_columns: Sequence[str] | str | None = None,
                 names: Mapping[str, str] | None = None,
                 formats: Mapping[str, Callable[[object], str]] | None = None) -> pd.DataFrame:
    """A string copy of df for display. time_columns (default: names ending in `_s`; "values": every
    column of a pivoted table, not its index) are seconds; each gets its unit from its own values.
    names overrides the human names."""
    df = df.copy()
    values = [_flat(c) for c in df.columns]
    if isinstance(df.index, pd.MultiIndex) or df.index.name is not None:
        df = df.reset_index()
    df.columns = [_flat(c) for c in df.columns]
    if time_columns == "values":  # a pivoted table of seconds: every value column, not the index
        times = set(values)
    else:
        times = set(time_columns) if time_columns is not None else {c for c in df.columns if _is_time(c)}
    names = dict(names or {})
    formats = dict(formats or {})
    out = {}
    for col in df.columns:
        s = df[col]
        # a pivoted table's value columns are data (strategy, design names): kept as they are
        label = names.get(col, col if time_columns == "values" and col in values else human(col))
        if col in formats:
            out[label] = s.map(lambda v, f=formats[col]: DASH if _missing(v) else f(v))
        elif col in times:
            unit, f = time_unit(s.tolist())
            out[f"{label} ({unit})"] = s.map(lambda v: sig(v / f) if not _missing(v) else DASH)
        elif col.startswith("ratio") or col.endswith("_ratio"):
            out[label] = s.map(fmt_ratio)
        elif col.endswith("_pct"):
            out[f"{label} (%)"] = s.map(lambda v: DASH if _missing(v) else f"{sig(v)}")
        elif pd.api.types.is_bool_dtype(s):
            out[label] = s.map(lambda v: "yes" if v else "no")
        elif pd.api.types.is_integer_dtype(s):
            out[label] = s.map(lambda v: DASH if _missing(v) else f"{int(v):,}")
        elif pd.api.types.is_float_dtype(s):
            out[label] = s.map(sig)
        else:
            out[label] = s.map(lambda v: DASH if _missing(v) else str(v))
    return pd.DataFrame(out)


def _missing(v) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def provenance_label(kind: str, source: str) -> str:
    # "measured", "replayed", or a combination ("measured and replayed (...)"): never free text.
    if kind.split()[0] not in KINDS:
        raise ValueError(f"provenance kind {kind!r}: expected it to start with one of {', '.join(KINDS)}")
    return f"{kind.capitalize()}: {source}" if source else kind.capitalize()


def show_table(df: pd.DataFrame, output_dir: str | Path | None, name: str, caption: str,
               kind: str, source: str = "", *, max_rows: int = MAX_ROWS,
               time_columns: Sequence[str] | str | None = None, names: Mapping[str, str] | None = None,
               formats: Mapping[str, Callable[[object], str]] | None = None,
               csv_frame: pd.DataFrame | None = None) -> Formatted:
    """Write NAME.csv (csv_frame or df, raw, with a provenance column) into output_dir and return
    the formatted table for display (a notebook cell shows it as HTML).

    kind is measured (real binaries), replayed (simulated emulators replaying recordings),
    recorded (taken from the recordings themselves) or modelled (computed by a model); source
    says which run or recording.
    """
    label = provenance_label(kind, source)
    csv = None
    if output_dir is not None:
        out = Path(output_dir).expanduser()
        if not out.is_absolute():
            from workbench.paths import REPO_ROOT
            out = REPO_ROOT / out
        out.mkdir(parents=True, exist_ok=True)
        raw = csv_frame if csv_frame is not None else df
        if isinstance(raw.index, pd.MultiIndex) or raw.index.name is not None:
            raw = raw.reset_index()
        raw = raw.copy()
        raw.columns = [_flat(c) for c in raw.columns]
        csv = out / f"{name}.csv"
        raw.assign(provenance=f"{kind}: {source}" if source else kind).to_csv(csv, index=False)
    shown = format_frame(df, time_columns, names, formats)
    more = ""
    if len(shown) > max_rows:
        link = (f'<a href="{html.escape(csv.parent.name)}/{html.escape(csv.name)}">{html.escape(csv.name)}</a>'
                if csv else "the CSV")
        more = f"<p class='wb-more'>The first {max_rows} of {len(shown)} rows; all are in {link}.</p>"
        shown = shown.head(max_rows)
    elif csv is not None:
        more = (f"<p class='wb-more'>As CSV: <a href=\"{html.escape(csv.parent.name)}/"
                f"{html.escape(csv.name)}\">{html.escape(csv.name)}</a>.</p>")
    body = shown.to_html(index=False, escape=True, border=0, classes="wb-table", na_rep=DASH)
    cap = (f"<caption><strong>{html.escape(caption)}</strong><br>"
           f"<span class='wb-prov'>{html.escape(label)}</span></caption>")
    body = body.replace(">\n  <thead>", ">\n" + cap + "\n  <thead>", 1)
    return Formatted(shown, STYLE + f"<div class='wb-table-wrap'>{body}{more}</div>", csv)


# Tables fit the page: headers wrap, cells do not grow past the text column, numbers align right.
STYLE = """<style>
.wb-table-wrap{max-width:100%;overflow-x:auto;margin:0.5em 0 1.2em}
table.wb-table{border-collapse:collapse;font-size:13px;width:auto;max-width:100%}
table.wb-table caption{caption-side:top;text-align:left;padding:0 0 0.3em;font-size:13px}
table.wb-table .wb-prov, p.wb-more{font-style:italic;color:#555;font-size:12px}
table.wb-table th{white-space:normal;vertical-align:bottom;text-align:right;padding:2px 8px;
  border-bottom:1px solid #999;max-width:12em}
table.wb-table td{text-align:right;padding:2px 8px;white-space:nowrap}
table.wb-table td:first-child, table.wb-table th:first-child{text-align:left}
table.wb-table tbody tr:nth-child(odd){background:#f5f5f5}
</style>"""
