/* httplife HTML report: reads the JSON data block, fills the connection
   timeline and formats tooltips. Every string that comes from the capture is
   shown through esc() or textContent, never as markup. */
"use strict";
var HL = (function () {
  var D = JSON.parse(document.getElementById("hl-data").textContent);
  var S = D.strs;
  var ROWS = D.tl.rows;
  var charts = {};

  /* positions in a timeline row (see timelineRow in html.go) */
  var R = { ID: 0, CLI: 1, SRV: 2, FIRST: 3, LAST: 4, REASON: 5, EVID: 6, FINBY: 7, FINAT: 8,
    RSTBY: 9, RSTAT: 10, TWH: 11, TWIN: 12, TWOUT: 13, SYN: 14, ACK: 15, PC: 16, PS: 17, KA: 18,
    ANOM: 19, TX: 20, IDLE: 21, FINAL: 22, RANK: 23, OPEN: 24, FLAGS: 25 };
  /* positions in a transaction */
  var T = { RS: 0, RE: 1, PS: 2, PE: 3, METHOD: 4, URI: 5, STATUS: 6, FLAGS: 7, RB: 8, PB: 9, INDEX: 10 };
  var SIDES = ["", "client", "server", "both"];

  /* segment kinds: fill colour, height as a share of the row, opacity */
  var KS = [
    { name: "TCP handshake", fill: "#9aa3ad", h: 0.42 },
    { name: "request sent", fill: "#2f6fd0", h: 0.66 },
    { name: "server time", fill: "#f6c48f", h: 0.66 },
    { name: "response", fill: "#e8741c", h: 0.66 },
    { name: "keep-alive idle", fill: "#7fc79a", h: 0.22 },
    { name: "final idle", fill: "#2f8f55", h: 0.22 },
    { name: "open at capture end", fill: "#c9cfd6", h: 0.22 },
    { name: "TIME_WAIT (client)", fill: "#2f6fd0", h: 0.42, op: 0.2 },
    { name: "TIME_WAIT (server)", fill: "#e8741c", h: 0.42, op: 0.2 },
    { name: "TIME_WAIT (both)", fill: "#8e6bbf", h: 0.42, op: 0.2 },
    { name: "client FIN", fill: "#1d4f9e", w: 2 },
    { name: "server FIN", fill: "#b4530f", w: 2 },
    { name: "simultaneous FIN", fill: "#5b3d8a", w: 2 },
    { name: "client RST", fill: "#d62728", w: 2.5 },
    { name: "server RST", fill: "#d62728", w: 2.5 },
    { name: "RST", fill: "#d62728", w: 2.5 }
  ];
  var MARKER = 10;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(v) { return v == null ? 0 : v; }
  function fmtDur(ms) {
    if (ms == null) { return "–"; }
    var a = Math.abs(ms);
    if (a >= 1000) { return (ms / 1000).toFixed(3) + " s"; }
    if (a >= 1) { return ms.toFixed(a >= 100 ? 0 : 1) + " ms"; }
    return (ms * 1000).toFixed(0) + " µs";
  }
  function fmtAt(ms) { return ms == null ? "–" : "+" + (ms / 1000).toFixed(3) + " s"; }
  function fmtAxis(v) { return +(v / 1000).toFixed(3) + " s"; }

  /* ---- timeline ---- */

  function items(pos) {
    var out = [];
    for (var ci = 0; ci < ROWS.length; ci++) {
      var r = ROWS[ci], y = pos[ci], tx = r[R.TX], prevEnd = null, i;
      if (r[R.SYN] != null && r[R.ACK] != null) { out.push([y, r[R.SYN], r[R.ACK], 0, ci, -1]); }
      for (i = 0; i < r[R.IDLE].length; i++) {
        var p = r[R.IDLE][i];
        if (p[0] != null && p[1] != null) { out.push([y, p[0], p[1], 4, ci, i]); }
      }
      var f = r[R.FINAL];
      if (f && f[0] != null && f[1] != null) { out.push([y, f[0], f[1], 5, ci, -1]); }
      if (r[R.OPEN] != null) { out.push([y, r[R.OPEN], Math.max(D.end, r[R.OPEN]), 6, ci, -1]); }
      for (i = 0; i < tx.length; i++) {
        var t = tx[i];
        if (t[T.RS] != null) { out.push([y, t[T.RS], num(t[T.RE] != null ? t[T.RE] : t[T.RS]), 1, ci, i]); }
        var waitFrom = t[T.RE];
        if (waitFrom != null && prevEnd != null && prevEnd > waitFrom) { waitFrom = prevEnd; } /* pipelined: queued behind the previous response */
        var waitTo = t[T.PS] != null ? t[T.PS] : null;
        if (waitTo == null && t[T.STATUS] == null && waitFrom != null) {
          /* unanswered: server time runs to the close or the last packet */
          waitTo = r[R.FINAT] != null ? r[R.FINAT] : (r[R.RSTAT] != null ? r[R.RSTAT] : r[R.LAST]);
          if (waitTo != null && waitTo < waitFrom) { waitTo = null; }
        }
        if (waitFrom != null && waitTo != null && waitTo > waitFrom) { out.push([y, waitFrom, waitTo, 2, ci, i]); }
        if (t[T.PS] != null) {
          var pe = t[T.PE] != null ? t[T.PE] : r[R.LAST];
          out.push([y, t[T.PS], Math.max(num(pe), t[T.PS]), 3, ci, i]);
          if (t[T.PE] != null) { prevEnd = t[T.PE]; }
        }
      }
      if (r[R.TWIN] != null && r[R.TWOUT] != null && r[R.TWH] > 0) { out.push([y, r[R.TWIN], r[R.TWOUT], 6 + r[R.TWH], ci, -1]); }
      if (r[R.FINAT] != null && r[R.FINBY] > 0) { out.push([y, r[R.FINAT], r[R.FINAT], 9 + r[R.FINBY], ci, -1]); }
      if (r[R.RSTAT] != null) { out.push([y, r[R.RSTAT], r[R.RSTAT], 12 + Math.max(1, r[R.RSTBY]), ci, -1]); }
    }
    return out;
  }

  function tlItem(params, api) {
    var k = api.value(3), y = api.value(0);
    var st = KS[k];
    var a = api.coord([api.value(1), y]);
    var band = api.size([0, 1])[1];
    var cs = params.coordSys;
    var x, w, h, style = { fill: st.fill, opacity: st.op || 1 };
    if (k >= MARKER) {
      /* FIN: a pole with a flag; RST: a pole with a diamond */
      if (a[0] < cs.x - 1 || a[0] > cs.x + cs.width + 1) { return null; }
      h = Math.max(band * 0.92, 8);
      var top = a[1] - h / 2, f = Math.min(Math.max(band * 0.42, 6), 11), head;
      if (k < 13) {
        head = { type: "polygon", shape: { points: [[a[0], top], [a[0] + f * 0.9, top + f / 2], [a[0], top + f]] }, style: { fill: st.fill } };
      } else {
        head = { type: "polygon", shape: { points: [[a[0], top], [a[0] + f / 2, top + f / 2], [a[0], top + f], [a[0] - f / 2, top + f / 2]] }, style: { fill: st.fill } };
      }
      return { type: "group", children: [
        { type: "rect", shape: { x: a[0] - st.w / 2, y: top, width: st.w, height: h }, style: { fill: st.fill } }, head] };
    } else {
      var b = api.coord([api.value(2), y]);
      x = a[0];
      w = Math.max(b[0] - a[0], k >= 1 && k <= 3 ? 2 : 1);
      h = Math.max(band * st.h, 1.5);
      if (k === 1 && ROWS[api.value(4)][R.TX][api.value(5)][T.STATUS] == null) {
        /* a request that got no response: outlined in red */
        w = Math.max(w, 4);
        style.stroke = "#d62728";
        style.lineWidth = 1.5;
      }
    }
    var rect = echarts.graphic.clipRectByRect({ x: x, y: a[1] - h / 2, width: w, height: h },
      { x: cs.x, y: cs.y, width: cs.width, height: cs.height });
    if (!rect) { return null; }
    return { type: "rect", shape: rect, style: style };
  }

  function tlTip(p) {
    var v = p.value, r = ROWS[v[4]], k = v[3], ti = v[5], h = [];
    h.push("<div class=\"hl-tip\"><b>#" + esc(r[R.ID]) + "</b> <span class=\"u\">" + esc(S[r[R.CLI]]) +
      " → " + esc(S[r[R.SRV]]) + "</span>");
    h.push("<div class=\"hr\"></div>");
    var t = ti >= 0 && k >= 1 && k <= 3 ? r[R.TX][ti] : null;
    if (k === 0) {
      h.push("<b>TCP handshake</b>: SYN at " + fmtAt(v[1]) + ", final ACK after " + fmtDur(v[2] - v[1]));
    } else if (t) {
      var status = t[T.STATUS] == null ? "no response" : "→ " + esc(t[T.STATUS]);
      h.push("<b>request " + esc(t[T.INDEX]) + "</b>: <span class=\"u\">" + esc(S[t[T.METHOD]]) + " " + esc(S[t[T.URI]]) +
        "</span> <b>" + status + "</b>");
      var parts = [];
      if (t[T.FLAGS] & 1) { parts.push("pipelined"); }
      if (!(t[T.FLAGS] & 2)) { parts.push("incomplete"); }
      if (t[T.FLAGS] & 4) { parts.push("switched protocols"); }
      if (parts.length) { h.push("<br><span class=\"k\">" + parts.join(", ") + "</span>"); }
      var line = function (kind, label, text) {
        var s = "<span class=\"k\">" + label + ":</span> " + text;
        return "<br>" + (kind === k ? "<b>▸ " + s + "</b>" : s);
      };
      h.push(line(1, "request", esc(t[T.RB]) + " bytes at " + fmtAt(t[T.RS]) + ", sent in " + fmtDur(num(t[T.RE]) - num(t[T.RS]))));
      if (t[T.PS] != null) {
        h.push(line(2, "server time", fmtDur(t[T.PS] - num(t[T.RE]))));
        h.push(line(3, "response", esc(t[T.PB]) + " bytes at " + fmtAt(t[T.PS]) +
          (t[T.PE] != null ? ", sent in " + fmtDur(t[T.PE] - t[T.PS]) : ", not finished")));
      } else if (k === 2) {
        h.push(line(2, "waited", fmtDur(v[2] - v[1]) + " with no response"));
      }
    } else if (k === 4) {
      var ip = r[R.IDLE][ti];
      h.push("<b>keep-alive idle</b> after request " + esc(ip[2]) + ": " + fmtDur(v[2] - v[1]));
    } else if (k === 5) {
      var f = r[R.FINAL];
      h.push("<b>final idle</b>" + (f[2] ? " after request " + esc(f[2]) : " after the handshake") + ": " +
        fmtDur(v[2] - v[1]) + " until the first FIN or RST");
    } else if (k === 6) {
      h.push("<b>still open</b> when the capture ended, idle since " + fmtAt(v[1]));
    } else if (k <= 9) {
      h.push("<b>TIME_WAIT</b> held by the " + SIDES[k - 6] + ": " + fmtAt(v[1]) + " → " + fmtAt(v[2]) + " (" + fmtDur(v[2] - v[1]) + ")");
    } else if (k <= 12) {
      h.push("<b>first FIN</b> by the " + SIDES[k - 9] + " at " + fmtAt(v[1]));
    } else {
      h.push("<b>RST</b> by the " + (SIDES[k - 12] || "?") + " at " + fmtAt(v[1]));
    }
    h.push("<div class=\"hr\"></div>");
    h.push("<b>" + esc(S[r[R.REASON]]) + "</b>");
    if (S[r[R.EVID]]) { h.push(": " + esc(S[r[R.EVID]])); }
    var more = [r[R.TX].length + (r[R.TX].length === 1 ? " request" : " requests")];
    if (r[R.KA] != null) { more.push("Keep-Alive timeout=" + esc(r[R.KA])); }
    if (r[R.PC] || r[R.PS]) { more.push("TCP keep-alive probes: client " + esc(r[R.PC]) + ", server " + esc(r[R.PS])); }
    if (r[R.FLAGS] & 1) { more.push("no SYN seen"); }
    h.push("<br><span class=\"k\">" + more.join(" · ") + "</span>");
    if (S[r[R.ANOM]]) { h.push("<br><span class=\"k\">anomalies: " + esc(S[r[R.ANOM]]) + "</span>"); }
    h.push("</div>");
    return h.join("");
  }

  function cmpStr(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
  var ORDERS = {
    start: function (a, b) { return num(a[R.FIRST]) - num(b[R.FIRST]) || a[R.ID] - b[R.ID]; },
    duration: function (a, b) {
      return (num(b[R.LAST]) - num(b[R.FIRST])) - (num(a[R.LAST]) - num(a[R.FIRST])) || ORDERS.start(a, b);
    },
    reason: function (a, b) {
      return a[R.RANK] - b[R.RANK] || cmpStr(S[a[R.REASON]], S[b[R.REASON]]) || ORDERS.start(a, b);
    },
    server: function (a, b) { return cmpStr(S[a[R.SRV]], S[b[R.SRV]]) || ORDERS.start(a, b); },
    id: function (a, b) { return a[R.ID] - b[R.ID]; }
  };

  var ORDER = [], lastWin = null;

  /* the rows (positions) in the y window */
  function yWindow(chart) {
    var zs = chart.getOption().dataZoom || [];
    for (var i = 0; i < zs.length; i++) {
      var z = zs[i], ys = [].concat(z.yAxisIndex == null ? [] : z.yAxisIndex), xs = [].concat(z.xAxisIndex == null ? [] : z.xAxisIndex);
      if (ys.length && !xs.length && z.startValue != null) { return [Math.max(0, Math.floor(z.startValue)), Math.min(ROWS.length - 1, Math.ceil(z.endValue))]; }
    }
    return [0, ROWS.length - 1];
  }

  /* zoom the time axis to what the visible rows span (TIME_WAIT tails aside) */
  function fit(chart) {
    var w = yWindow(chart), lo = Infinity, hi = -Infinity;
    lastWin = w.join(",");
    for (var p = w[0]; p <= w[1]; p++) {
      var r = ROWS[ORDER[p]];
      if (!r) { continue; }
      var a = r[R.SYN] != null ? r[R.SYN] : r[R.FIRST];
      var b = Math.max(num(r[R.LAST]), num(r[R.FINAT]), num(r[R.RSTAT]), r[R.OPEN] != null ? D.end : 0);
      if (a != null) { lo = Math.min(lo, a); }
      hi = Math.max(hi, b);
    }
    if (!(hi > lo)) { return; }
    var pad = Math.max((hi - lo) * 0.03, 0.5);
    chart.dispatchAction({ type: "dataZoom", dataZoomIndex: 0, startValue: Math.max(0, lo - pad), endValue: Math.min(D.xmax, hi + pad) });
  }

  function order(chart, key) {
    var idx = ROWS.map(function (_, i) { return i; });
    var cmp = ORDERS[key] || ORDERS.start;
    idx.sort(function (a, b) { return cmp(ROWS[a], ROWS[b]) || a - b; });
    var pos = new Array(ROWS.length), labels = new Array(ROWS.length);
    idx.forEach(function (ci, p) {
      pos[ci] = p;
      labels[p] = "#" + ROWS[ci][R.ID] + "  " + S[ROWS[ci][R.CLI]];
    });
    ORDER = idx;
    chart.setOption({ yAxis: [{ data: labels }], series: [{ data: items(pos) }] });
  }

  function setupTimeline(chart) {
    var zooms = chart.getOption().dataZoom || [];
    var patch = zooms.map(function (z) {
      var onY = z.yAxisIndex != null && [].concat(z.yAxisIndex).length > 0 && !(z.xAxisIndex != null && [].concat(z.xAxisIndex).length > 0);
      if (z.type === "inside") {
        return onY ? { zoomOnMouseWheel: false, moveOnMouseWheel: true, moveOnMouseMove: true }
          : { zoomOnMouseWheel: "shift", moveOnMouseWheel: false, moveOnMouseMove: true };
      }
      return onY ? { showDetail: false, width: 18 } : { labelFormatter: fmtAxis, height: 20, bottom: 8 };
    });
    chart.setOption({ dataZoom: patch, series: [{ clip: true, progressive: 4000 }] });
    var sel = document.getElementById("hl-order"), box = document.getElementById("hl-fit");
    var fitting = function () { return box && box.checked; };
    order(chart, sel ? sel.value : "start");
    if (fitting()) { fit(chart); }
    if (sel) { sel.addEventListener("change", function () { order(chart, sel.value); if (fitting()) { fit(chart); } }); }
    if (box) { box.addEventListener("change", function () { if (fitting()) { fit(chart); } }); }
    chart.on("datazoom", function () {
      if (fitting() && yWindow(chart).join(",") !== lastWin) { fit(chart); }
    });
    chart.on("click", function (p) {
      if (!p.value) { return; }
      var row = document.getElementById("conn-" + ROWS[p.value[4]][R.ID]);
      if (!row) { return; }
      row.scrollIntoView({ block: "center", behavior: "smooth" });
      row.classList.add("hl-flash");
      setTimeout(function () { row.classList.remove("hl-flash"); }, 1600);
    });
  }

  /* ---- other tooltips ---- */

  function lines(p, value) {
    return p.map(function (s) {
      return s.marker + esc(s.seriesName) + ": <b>" + esc(value(s)) + "</b>";
    }).join("<br>");
  }

  function histTip(p) {
    if (!p.length) { return ""; }
    var head = (D.hist && D.hist.ranges[p[0].dataIndex]) || p[0].name;
    return "<div class=\"hl-tip\"><b>" + esc(head) + "</b><br>" +
      lines(p.filter(function (s) { return s.value > 0 || p.length === 1; }), function (s) { return s.value; }) + "</div>";
  }

  function perConnTip(p) {
    if (!p.length) { return ""; }
    return "<div class=\"hl-tip\"><b>" + esc(p[0].name) + " requests</b><br>" + esc(p[0].value) + " connections</div>";
  }

  function timeTip(p) {
    if (!p.length) { return ""; }
    return "<div class=\"hl-tip\"><b>" + fmtAt(p[0].axisValue) + "</b><br>" +
      lines(p, function (s) { return s.value[1]; }) + "</div>";
  }

  function init(name, chart) {
    charts[name] = chart;
    chart.setOption({ tooltip: { confine: true } });
    if (name === "timeline") { setupTimeline(chart); }
  }

  function ready() {
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (k) { charts[k].resize(); });
    });
    document.documentElement.setAttribute("data-hl-ready", "1");
  }

  return {
    data: D, charts: charts, esc: esc, init: init, ready: ready,
    tlItem: tlItem, tlTip: tlTip, histTip: histTip, perConnTip: perConnTip, timeTip: timeTip, fmtAxis: fmtAxis
  };
})();
