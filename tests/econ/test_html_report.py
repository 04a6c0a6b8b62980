"""The HTML report, opened in real headless Chromium: every chart drawn, and no network touched."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from otel_openai_billing.cli import main

from . import browser
from .conftest import EconLedger

# Colors of report.js: bars, the second series, losses, gains, the forecast's history.
BLUE, ORANGE, LOSS, GAIN, GREY = "#2f6fdf", "#e8793a", "#c8435e", "#2ca58d", "#7a7a7a"

RECONCILE = {
    "cells": [
        {"day": "2026-12-01", "model": "gpt-4o-2024-08-06", "status": "match", "local_cost": "0.0375",
         "openai_cost": "0.0375", "diff_cost": "0", "ok": True},
        {"day": "2026-12-01", "model": "gpt-4o-mini-2024-07-18", "status": "cost_mismatch",
         "local_cost": "0.00090885", "openai_cost": "0.0012", "diff_cost": "0.00029115", "ok": False},
        {"day": "2026-11-30", "model": "gpt-4o-2024-08-06", "status": "only_openai", "local_cost": None,
         "openai_cost": "0.5", "diff_cost": None, "ok": False},
    ]
}  # fmt: skip


@pytest.fixture(scope="module")
def report(econ_ledger: EconLedger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "reconcile.json").write_text(json.dumps(RECONCILE), encoding="utf-8")
    page = tmp / "report.html"
    argv = ["report", "--from", str(econ_ledger.directory), "--html", str(page)]
    argv += ["--revenue", str(econ_ledger.revenue_file(tmp)), "--reconcile", str(tmp / "reconcile.json")]
    argv += ["--days", "1", "--until", econ_ledger.day, "--as-of", econ_ledger.day, "--growth", "3x"]
    assert main(argv) == 0
    return page


EXPECTED_MARKS = {
    "cost-by-day": 2,  # one day, two models
    "top-customers": 4,  # acme, gamma, beta, and the call with no customer
    "top-features": 3,  # search, chat, no feature
    "margins": 3,  # the three customers with revenue
    "forecast": 3,  # one day of history, the run-rate now and after 3x growth
    "reconcile": 3,  # match, cost_mismatch, only_openai
}
# The color each chart must show on screen (report.js): bars, losses, the forecast's history.
CHART_COLORS = {
    "cost-by-day": (BLUE, ORANGE),
    "top-customers": (BLUE,),
    "top-features": (BLUE,),
    "margins": (LOSS, GAIN),
    "forecast": (GREY, BLUE, ORANGE),
    "reconcile": (GAIN, LOSS),  # cells within the tolerance, and outside it
}


def test_dump_dom_after_scripts_ran_with_no_network(report: Path) -> None:
    result = browser.run(report, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    charts = dict(re.findall(r'<figure data-chart="([a-z-]+)" data-marks="(\d+)" data-rendered="true"', dom))
    assert {k: int(v) for k, v in charts.items()} == EXPECTED_MARKS
    # Each chart is an SVG the script drew, with its bars' values in their tooltips.
    assert dom.count("<svg") == len(EXPECTED_MARKS)
    assert "acme: $0.0300" in dom and "acme: -$0.0100 (-50.0% loss)" in dom


def test_every_chart_on_screen_and_no_request_leaves_the_file(report: Path) -> None:
    with browser.DevTools(width=1000, height=1200) as chrome:
        # Offline as far as the page can tell, too.
        chrome.open(report.resolve().as_uri(), offline=True)
        figures = chrome.evaluate(FIGURES_JS)
        shots = {f["chart"]: chrome.screenshot(f["box"]) for f in figures}
        assert chrome.requests() == [report.resolve().as_uri()]
        assert chrome.problems() == []
    assert {f["chart"]: f["marks"] for f in figures} == EXPECTED_MARKS
    for chart, png in shots.items():
        width, height, rows = browser.read_png(png)
        assert width > 600 and height > 50, (chart, width, height)
        for color in CHART_COLORS[chart]:
            # At least a few bars' worth of pixels of each of the chart's colors.
            assert browser.count_color(rows, color) > 200, (chart, color)


def test_the_checks_can_fail(tmp_path: Path) -> None:
    # A page that reaches out and throws is caught by the same checks.
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><img src="http://example.com/x.png"><script>throw new Error("boom")</script>',
        encoding="utf-8",
    )
    with browser.DevTools() as chrome:
        chrome.open(page.resolve().as_uri())
        assert "http://example.com/x.png" in chrome.requests()
        assert any("boom" in p for p in chrome.problems())


FIGURES_JS = """[...document.querySelectorAll('figure[data-chart]')].map(f => {
  const r = f.getBoundingClientRect();
  return {chart: f.dataset.chart, marks: Number(f.dataset.marks), rendered: f.dataset.rendered,
          box: {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height}};
})"""
