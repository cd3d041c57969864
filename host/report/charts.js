// Draws the report's charts as SVG from the JSON data block: stacked bars per
// time bucket, an axis with a few labels, and a legend. No libraries, no
// network. Each chart container gets data-drawn = the number of bars drawn.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var palette = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#475569", "#0d9488", "#9333ea"];
  var severityColour = { critical: "#7f1d1d", high: "#dc2626", medium: "#f59e0b", low: "#3b82f6", info: "#94a3b8", failed: "#dc2626" };
  var data = JSON.parse(document.getElementById("report-data").textContent);

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }

  function stacked(container, buckets, series) {
    var W = 900, H = 260, left = 44, right = 10, top = 10, bottom = 44;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + (H + 24 * Math.ceil(series.length / 4)), role: "img", "class": "chart" });
    var n = buckets.length, totals = [];
    for (var i = 0; i < n; i++) {
      var t = 0;
      for (var s = 0; s < series.length; s++) { t += series[s].values[i] || 0; }
      totals.push(t);
    }
    var max = Math.max.apply(null, totals.concat([1]));
    var plotW = W - left - right, plotH = H - top - bottom, bw = plotW / Math.max(n, 1);
    el("line", { x1: left, y1: top + plotH, x2: W - right, y2: top + plotH, stroke: "#64748b" }, svg);
    el("line", { x1: left, y1: top, x2: left, y2: top + plotH, stroke: "#64748b" }, svg);
    (max >= 2 ? [0, 0.5, 1] : [0, 1]).forEach(function (f) {
      var y = top + plotH - f * plotH;
      var lbl = el("text", { x: left - 6, y: y + 4, "text-anchor": "end", "class": "tick" }, svg);
      lbl.textContent = String(Math.round(f * max));
    });
    var step = Math.max(1, Math.ceil(n / 6));
    for (var j = 0; j < n; j += step) {
      var tx = el("text", { x: left + j * bw + bw / 2, y: top + plotH + 16, "text-anchor": "middle", "class": "tick" }, svg);
      tx.textContent = buckets[j];
    }
    var drawn = 0;
    for (var b = 0; b < n; b++) {
      var y0 = top + plotH;
      for (var k = 0; k < series.length; k++) {
        var v = series[k].values[b] || 0;
        if (!v) { continue; }
        var h = v / max * plotH;
        y0 -= h;
        var r = el("rect", { x: left + b * bw + 1, y: y0, width: Math.max(bw - 2, 1), height: h, fill: colour(series[k].name, k), "class": "bar" }, svg);
        el("title", {}, r).textContent = buckets[b] + " " + series[k].name + ": " + v;
        drawn++;
      }
    }
    series.forEach(function (s, idx) {
      var lx = left + (idx % 4) * 220, ly = H + 8 + 24 * Math.floor(idx / 4);
      el("rect", { x: lx, y: ly, width: 12, height: 12, fill: colour(s.name, idx), "class": "legend" }, svg);
      var t = el("text", { x: lx + 18, y: ly + 11, "class": "legend-label" }, svg);
      t.textContent = s.name;
    });
    container.appendChild(svg);
    container.setAttribute("data-drawn", String(drawn));
  }

  function colour(name, idx) { return severityColour[name] || palette[idx % palette.length]; }

  var charts = { "chart-types": data.by_type, "chart-failures": data.failures, "chart-threats": data.threats };
  for (var id in charts) {
    var c = document.getElementById(id);
    if (c && data.buckets && charts[id]) { stacked(c, data.buckets, charts[id]); }
  }
  document.body.setAttribute("data-charts", "ready");
})();
