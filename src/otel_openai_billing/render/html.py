"""Report rows -> one self-contained HTML file with charts.

Everything is inline: the data (a JSON block), the script that draws the charts as SVG, the styles.
A Content-Security-Policy allows only that script (by its hash) and inline styles, and no connection
at all, so the file opens offline and can never fetch anything. Chart data are floats, for drawing
only; the table under each chart has the exact figures.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

from .table import display, exact

TOP = 10  # rows in the top-customers and top-features charts
MODELS = 7  # models drawn by name in the daily chart; the rest are "other"
NO_CUSTOMER = "(no customer)"
NO_FEATURE = "(no feature)"


@dataclass(slots=True)
class ReportInput:
    """What the report shows; each part comes from a pure report."""

    title: str
    subtitle: str
    daily: Mapping[str, Mapping[str | None, Decimal]]  # day -> model -> cost (reports.customers.cost_by_day)
    customers: Sequence[Mapping[str, Any]]  # customer_report(by="customer", period="all") rows
    features: Sequence[Mapping[str, Any]]  # customer_report(by="feature", period="all") rows
    forecast: Mapping[str, Any] | None = None  # Forecast.summary(), plus "history": [(day, cost)]
    reconcile: Sequence[Mapping[str, Any]] | None = None  # reconciliation cells, each with a status


def _f(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


def _days(daily: Mapping[str, Any]) -> list[str]:
    if not daily:
        return []
    first, last = date.fromisoformat(min(daily)), date.fromisoformat(max(daily))
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _daily_chart(daily: Mapping[str, Mapping[str | None, Decimal]]) -> dict[str, Any]:
    days = _days(daily)
    totals: dict[str | None, Decimal] = {}
    for per_model in daily.values():
        for model, cost in per_model.items():
            totals[model] = totals.get(model, Decimal(0)) + cost
    ranked = sorted(totals, key=lambda m: -totals[m])
    named, rest = ranked[:MODELS], ranked[MODELS:]
    series = [
        {"name": m or "(unknown)", "values": [_f(daily.get(d, {}).get(m)) for d in days]} for m in named
    ]
    if rest:
        series.append(
            {
                "name": "other",
                "values": [
                    _f(sum((daily.get(d, {}).get(m, Decimal(0)) for m in rest), Decimal(0))) for d in days
                ],
            }
        )
    return {"days": days, "series": series}


def _label(row: Mapping[str, Any], key: str, none: str) -> str:
    value = row.get(key)
    return none if value is None else str(value)


def _bars(rows: Sequence[Mapping[str, Any]], key: str, none: str) -> list[dict[str, Any]]:
    top = sorted(rows, key=lambda r: -r["cost"])[:TOP]
    return [{"label": _label(r, key, none), "value": _f(r["cost"])} for r in top if r["cost"]]


def _margins(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    if not any("revenue" in r for r in rows):
        return None
    out = []
    for r in rows:
        if r.get("revenue") is None:
            continue
        pct = r.get("margin_pct")
        note = f"{display(pct, 'pct')}" if pct is not None else ""
        if r["flags"]:
            note = (note + " " + ", ".join(r["flags"])).strip()
        out.append(
            {
                "label": _label(r, "customer_id", NO_CUSTOMER),
                "value": _f(r["margin"]),
                "note": note,
                "flag": bool(r["flags"]),
            }
        )
    return out


def _reconcile_counts(cells: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    fine: dict[str, bool] = {}
    for cell in cells:
        kind = str(cell.get("status") or cell.get("classification") or "unclassified")
        counts[kind] = counts.get(kind, 0) + 1
        fine[kind] = fine.get(kind, True) and bool(cell.get("ok", True))
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return [{"label": k, "value": v, "ok": fine[k]} for k, v in ranked]


def _problems(cells: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for cell in cells:
        if cell.get("ok", True):
            continue
        row = dict(cell)
        for key in ("local_cost", "openai_cost", "diff_cost"):
            value = row.get(key)
            row[key] = Decimal(str(value)) if isinstance(value, str | int | float) else None
        out.append(row)
    return out


def _table(
    headers: Sequence[tuple[str, str, str]], rows: Sequence[Mapping[str, Any]], summary: str = "Figures"
) -> str:
    """An exact-figures table under a chart: (key, title, kind) columns."""
    head = "".join(
        f'<th class="{"n" if k not in ("text", "list") else ""}">{html.escape(t)}</th>' for _, t, k in headers
    )
    body = []
    for row in rows:
        cells = []
        for key, _, kind in headers:
            value = row.get(key)
            shown = display(value, kind) if kind != "text" else ("-" if value is None else str(value))  # type: ignore[arg-type]
            title = f' title="{html.escape(str(exact(value)))}"' if isinstance(value, Decimal) else ""
            cls = "n" if kind not in ("text", "list") else ""
            cells.append(f'<td class="{cls}"{title}>{html.escape(shown)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<details><summary>{summary}</summary><table><tr>{head}</tr>{''.join(body)}</table></details>"


RECONCILE_COLUMNS = [("label", "status", "text"), ("value", "cells", "int")]
# The cells outside the tolerance, as `otel-openai-billing reconcile --format json` writes them.
RECONCILE_CELLS = [
    ("day", "day", "text"),
    ("model", "model", "text"),
    ("status", "status", "text"),
    ("local_cost", "local cost", "usd"),
    ("openai_cost", "OpenAI cost", "usd"),
    ("diff_cost", "difference", "usd"),
]


def _kpi(label: str, value: str) -> str:
    return f'<div class="kpi"><b>{html.escape(value)}</b><span>{html.escape(label)}</span></div>'


def _figure(chart: str, caption: str, table: str = "") -> str:
    return f'<figure data-chart="{chart}"><figcaption>{html.escape(caption)}</figcaption></figure>{table}'


def render_report(report: ReportInput) -> str:
    """The whole HTML document."""
    script = resources.files(__package__).joinpath("report.js").read_text(encoding="utf-8")
    style = resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:"

    fc = report.forecast
    data = {
        "daily": _daily_chart(report.daily),
        "customers": _bars(report.customers, "customer_id", NO_CUSTOMER),
        "features": _bars(report.features, "feature", NO_FEATURE),
        "margins": _margins(report.customers),
        "forecast": {
            "history": [{"day": d, "cost": _f(c)} for d, c in fc["history"]],
            "horizon": fc["horizon_days"],
            "baseline": _f(fc["mean_daily_cost"]),
            "scenario": _f(fc["scenario_projection"] / fc["horizon_days"]),
            "low": _f(fc["scenario_low"] / fc["horizon_days"]),
            "high": _f(fc["scenario_high"] / fc["horizon_days"]),
        }
        if fc
        else {"history": []},
        "reconcile": {"counts": _reconcile_counts(report.reconcile)}
        if report.reconcile is not None
        else None,
    }
    # "</" cannot end the data block early: JSON allows "<\/".
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")

    total_cost = sum((r["cost"] for r in report.customers), Decimal(0))
    calls = sum(r["calls"] for r in report.customers)
    unpriced = sum(r["unpriced_calls"] for r in report.customers)
    kpis = [
        ("AI cost", display(total_cost, "usd")),
        ("calls", display(calls, "int")),
        (
            "customers",
            display(sum(1 for r in report.customers if r.get("customer_id") and r["calls"]), "int"),
        ),
        ("unpriced calls", display(unpriced, "int")),
    ]
    margins = data["margins"]
    if margins is not None:
        revenue = sum((r["revenue"] for r in report.customers if r.get("revenue") is not None), Decimal(0))
        kpis.append(("revenue", display(revenue, "usd")))
        kpis.append(("gross margin", display(revenue - total_cost, "usd")))

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(report.title)}</title><style>{style}</style></head><body><main>",
        f"<h1>{html.escape(report.title)}</h1><p class=sub>{html.escape(report.subtitle)}</p>",
        '<div class="kpis">'
        + "".join(_kpi(k, v) for k, v in kpis)
        + "</div>",
        "<section><h2>Cost by day and model</h2>",
        _figure(
            "cost-by-day",
            "Priced cost per UTC day, stacked by model",
            _table(
                [("day", "day", "text"), ("model", "model", "text"), ("cost", "cost", "usd")],
                [
                    {"day": day, "model": model or "(unknown)", "cost": cost}
                    for day in sorted(report.daily)
                    for model, cost in sorted(report.daily[day].items(), key=lambda mc: -mc[1])
                ],
            ),
        ),
        "</section>",
        "<section><h2>Top customers</h2>",
        _figure(
            "top-customers",
            f"AI cost per customer, top {TOP}",
            _table(
                [("customer_id", "customer", "text"), ("calls", "calls", "int"), ("cost", "AI cost", "usd"),
                 ("share", "share", "share"), ("unpriced_calls", "unpriced", "int")],
                [{**r, "customer_id": _label(r, "customer_id", NO_CUSTOMER)} for r in report.customers],
            ),
        ),
        "</section>",
        "<section><h2>Top features</h2>",
        _figure(
            "top-features",
            f"AI cost per feature, top {TOP}",
            _table(
                [("feature", "feature", "text"), ("calls", "calls", "int"), ("cost", "AI cost", "usd"),
                 ("share", "share", "share")],
                [{**r, "feature": _label(r, "feature", NO_FEATURE)} for r in report.features],
            ),
        ),
        "</section>",
        "<section><h2>Margin per customer</h2>",
        _figure(
            "margins",
            "Revenue minus AI cost; losses in red, flagged rows outlined",
            _table(
                [("customer_id", "customer", "text"), ("revenue", "revenue", "usd"),
                 ("cost", "AI cost", "usd"), ("margin", "margin", "usd"), ("margin_pct", "margin %", "pct"),
                 ("flags", "flags", "list")],
                [{**r, "customer_id": _label(r, "customer_id", NO_CUSTOMER)} for r in report.customers],
            )
            if margins is not None
            else "",
        ),
        "</section>",
        "<section><h2>Forecast</h2>",
        _figure("forecast", "Observed daily cost, then the run-rate now and after the change (band: one sd)"),
        _forecast_text(fc),
        "</section>",
        "<section><h2>Reconciliation with OpenAI</h2>",
        _figure("reconcile", "Cells (UTC day x model) by status") + _reconcile_tables(report.reconcile),
        "</section>",
    ]  # fmt: skip
    parts.append(f'<script type="application/json" id="report-data">{payload}</script>')
    parts.append(f"<script>{script}</script></main></body></html>")
    return "\n".join(parts) + "\n"


def _reconcile_tables(cells: Sequence[Mapping[str, Any]] | None) -> str:
    if cells is None:
        return ""
    problems = _table(RECONCILE_CELLS, _problems(cells), "Cells outside the tolerance")
    return _table(RECONCILE_COLUMNS, _reconcile_counts(cells)) + problems


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _forecast_text(fc: Mapping[str, Any] | None) -> str:
    if not fc:
        return "<p class=sub>No history to forecast from.</p>"
    lines = [
        f"Basis: {_plural(fc['days_observed'], 'day')}, {fc['calls']:,} calls; "
        f"mean {display(fc['mean_daily_cost'], 'usd')}/day "
        f"(min {display(fc['daily_min'], 'usd')}, max {display(fc['daily_max'], 'usd')}, "
        f"sd {display(fc['daily_stdev'], 'usd')}), trend {display(fc['trend_per_day'], 'usd')}/day.",
        "Scenario: " + "; ".join(fc["scenario"]) + ".",
        f"Over {fc['horizon_days']} days: now {display(fc['baseline_projection'], 'usd')}, after "
        f"{display(fc['scenario_projection'], 'usd')} (range {display(fc['scenario_low'], 'usd')} .. "
        f"{display(fc['scenario_high'], 'usd')}). A run-rate, not a promise.",
        *fc["notes"],
    ]
    return '<ul class="notes">' + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"
