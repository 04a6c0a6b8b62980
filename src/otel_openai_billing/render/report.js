// Draws the report's charts as inline SVG from the JSON data block; no library, no network.
// Each chart's <figure> gets data-rendered="true" and data-marks=<bars/lines drawn> when done.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#2f6fdf", "#e8793a", "#2ca58d", "#c8435e", "#8a5cd1", "#c9a227", "#4f9fc9", "#7a7a7a"];
  var LOSS = "#c8435e", GAIN = "#2ca58d";
  var data = JSON.parse(document.getElementById("report-data").textContent);

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, s, attrs) {
    var t = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = s;
    return t;
  }
  function tip(node, s) {
    el("title", {}, node).textContent = s;
  }
  function usd(v) {
    var a = Math.abs(v), d = a >= 10 || a === 0 ? 2 : a >= 0.01 ? 4 : 6;
    return (v < 0 ? "-$" : "$") + a.toFixed(d);
  }
  function svgFor(fig, width, height) {
    return el("svg", { viewBox: "0 0 " + width + " " + height, width: "100%", role: "img",
                       "aria-label": fig.querySelector("figcaption").textContent }, fig);
  }
  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function yAxis(svg, x0, x1, y0, y1, max) {
    for (var i = 0; i <= 4; i++) {
      var y = y1 - (y1 - y0) * i / 4;
      el("line", { x1: x0, x2: x1, y1: y, y2: y, class: "grid" }, svg);
      text(svg, x0 - 6, y + 4, usd(max * i / 4), { "text-anchor": "end", class: "tick" });
    }
  }
  function legend(fig, names) {
    var box = document.createElement("div");
    box.className = "legend";
    names.forEach(function (name, i) {
      var item = document.createElement("span");
      item.innerHTML = '<i style="background:' + PALETTE[i % PALETTE.length] + '"></i>';
      item.appendChild(document.createTextNode(name));
      box.appendChild(item);
    });
    fig.appendChild(box);
  }
  function empty(svg, w, h, why) {
    text(svg, w / 2, h / 2, why, { "text-anchor": "middle", class: "empty" });
    return 0;
  }

  // Stacked bars: one per day, a segment per model.
  function stacked(fig, d) {
    var W = 820, H = 280, L = 70, R = 10, T = 10, B = 40, svg = svgFor(fig, W, H);
    if (!d.days.length) return empty(svg, W, H, "no calls in this period");
    var totals = d.days.map(function (_, i) {
      return d.series.reduce(function (s, ser) { return s + ser.values[i]; }, 0);
    });
    var max = niceMax(Math.max.apply(null, totals)), n = d.days.length;
    var step = (W - L - R) / n, bw = Math.max(2, step * 0.7), marks = 0;
    yAxis(svg, L, W - R, T, H - B, max);
    d.days.forEach(function (day, i) {
      var y = H - B;
      d.series.forEach(function (ser, k) {
        var v = ser.values[i];
        if (v <= 0) return;
        var h = (H - B - T) * v / max;
        y -= h;
        var r = el("rect", { x: L + i * step + (step - bw) / 2, y: y, width: bw, height: Math.max(h, 0.5),
                             fill: PALETTE[k % PALETTE.length], class: "mark" }, svg);
        tip(r, day + " " + ser.name + ": " + usd(v));
        marks++;
      });
      var every = Math.ceil(n / 10);
      if (i % every === 0) text(svg, L + i * step + step / 2, H - B + 16, day.slice(5), { "text-anchor": "middle", class: "tick" });
    });
    legend(fig, d.series.map(function (s) { return s.name; }));
    return marks;
  }

  // Horizontal bars, signed values allowed (margin): losses to the left of zero, in red.
  function hbars(fig, rows, opts) {
    var W = 820, rowH = 26, L = 190, R = 90, T = 8, H = T * 2 + rowH * Math.max(rows.length, 1);
    var svg = svgFor(fig, W, H);
    if (!rows.length) return empty(svg, W, H, opts.empty);
    var lo = Math.min(0, Math.min.apply(null, rows.map(function (r) { return r.value; })));
    var hi = Math.max(0, Math.max.apply(null, rows.map(function (r) { return r.value; })));
    var span = hi - lo || 1, x = function (v) { return L + (W - L - R) * (v - lo) / span; };
    el("line", { x1: x(0), x2: x(0), y1: T, y2: H - T, class: "axis" }, svg);
    rows.forEach(function (r, i) {
      var y = T + i * rowH, a = x(Math.min(0, r.value)), b = x(Math.max(0, r.value));
      // Signed values: losses red; rows that say whether they are fine (reconciliation): red or green.
      var fill = opts.signed ? (r.value < 0 ? LOSS : GAIN) : r.ok === undefined ? PALETTE[0] : r.ok ? GAIN : LOSS;
      var rect = el("rect", { x: a, y: y + 4, width: Math.max(b - a, 0.5), height: rowH - 8, fill: fill,
                              class: "mark" + (r.flag ? " flagged" : "") }, svg);
      tip(rect, r.label + ": " + (opts.format || usd)(r.value) + (r.note ? " (" + r.note + ")" : ""));
      text(svg, L - 8, y + rowH / 2 + 4, r.label, { "text-anchor": "end", class: "label" });
      text(svg, b + 6, y + rowH / 2 + 4, (opts.format || usd)(r.value) + (r.note ? "  " + r.note : ""), { class: "value" });
    });
    return rows.length;
  }

  // History bars, then the baseline and scenario run-rates over the horizon, with the scenario's band.
  function forecast(fig, f) {
    var W = 820, H = 280, L = 70, R = 10, T = 10, B = 40, svg = svgFor(fig, W, H);
    if (!f.history.length) return empty(svg, W, H, "no history to forecast from");
    var n = f.history.length, m = f.horizon, total = n + m;
    var peak = Math.max(f.high, f.baseline, Math.max.apply(null, f.history.map(function (h) { return h.cost; })));
    var max = niceMax(peak), step = (W - L - R) / total, marks = 0;
    var y = function (v) { return H - B - (H - B - T) * v / max; };
    yAxis(svg, L, W - R, T, H - B, max);
    f.history.forEach(function (h, i) {
      var r = el("rect", { x: L + i * step + step * 0.15, y: y(h.cost), width: step * 0.7, height: Math.max(H - B - y(h.cost), 0.5),
                           fill: PALETTE[7], class: "mark" }, svg);
      tip(r, h.day + ": " + usd(h.cost));
      marks++;
    });
    var x0 = L + n * step, x1 = W - R;
    el("rect", { x: x0, y: y(f.high), width: x1 - x0, height: Math.max(y(f.low) - y(f.high), 0.5), class: "band" }, svg);
    var base = el("line", { x1: x0, x2: x1, y1: y(f.baseline), y2: y(f.baseline), stroke: PALETTE[0], class: "mark run" }, svg);
    tip(base, "now: " + usd(f.baseline) + " a day");
    var scen = el("line", { x1: x0, x2: x1, y1: y(f.scenario), y2: y(f.scenario), stroke: PALETTE[1], class: "mark run" }, svg);
    tip(scen, "after the change: " + usd(f.scenario) + " a day");
    el("line", { x1: x0, x2: x0, y1: T, y2: H - B, class: "axis" }, svg);
    text(svg, L + n * step / 2, H - B + 16, "observed (" + n + (n === 1 ? " day)" : " days)"), { "text-anchor": "middle", class: "tick" });
    text(svg, x0 + (x1 - x0) / 2, H - B + 16, "next " + m + " days", { "text-anchor": "middle", class: "tick" });
    legend(fig, ["now (run-rate)", "after the change"]);
    return marks + 2;
  }

  var draw = {
    "cost-by-day": function (fig) { return stacked(fig, data.daily); },
    "top-customers": function (fig) {
      return hbars(fig, data.customers, { empty: "no calls" });
    },
    "top-features": function (fig) {
      return hbars(fig, data.features, { empty: "no calls" });
    },
    "margins": function (fig) {
      return hbars(fig, data.margins || [], { signed: true, empty: "no revenue file given" });
    },
    "forecast": function (fig) { return forecast(fig, data.forecast); },
    "reconcile": function (fig) {
      return hbars(fig, (data.reconcile || { counts: [] }).counts, {
        empty: "no reconciliation given", format: function (v) { return String(v); } });
    }
  };
  document.querySelectorAll("figure[data-chart]").forEach(function (fig) {
    var marks = draw[fig.dataset.chart](fig);
    fig.dataset.marks = String(marks);
    fig.dataset.rendered = "true";
  });
})();
