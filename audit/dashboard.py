"""The sales manager's dashboard, served by audit: one HTML page, one script, one style sheet,
no third-party code (the page must work on a closed network).

The page holds no data. It asks for a manager API key, keeps it in the tab's
sessionStorage (never in a URL or a cookie), and calls audit's JSON endpoints with it in the
Authorization header; charts are SVG drawn by the script below. The Content-Security-Policy
allows scripts, styles and requests to this origin only.

The assets live in this module rather than as .html/.js files so that they ship inside the
wheel (the package data patterns cover .json/.yaml only).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Leadfarm - audit dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/audit/v1/dashboard/app.css">
<script src="/audit/v1/dashboard/app.js" defer></script>
</head>
<body data-state="signed-out">
<header>
  <h1>Leadfarm <span>audit</span></h1>
  <form id="period-form" hidden>
    <label>Leads captured from <input type="month" id="from"></label>
    <label>to <input type="month" id="to"></label>
    <button type="submit">Apply</button>
  </form>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>
<section id="sign-in" class="card narrow">
  <h2>Open the dashboard</h2>
  <form id="key-form">
    <label>Manager API key
      <input type="password" id="key" autocomplete="off" spellcheck="false" required>
    </label>
    <button type="submit">Open</button>
  </form>
  <p class="note">The key stays in this browser tab (sessionStorage) and is sent only in the
  Authorization header of requests to this server.</p>
  <p id="sign-in-error" class="error" hidden></p>
</section>
<main id="board" hidden>
  <p id="status" class="note">Loading...</p>
  <div id="warnings"></div>
  <div class="grid">
    <section class="card">
      <h2>Funnel by source class
        <button class="csv" data-csv="funnel?by=source_class">CSV</button></h2>
      <div class="chart" id="chart-funnel"></div>
    </section>
    <section class="card">
      <h2>Source mix by week
        <button class="csv" data-csv="source-mix?interval=week">CSV</button></h2>
      <div class="chart" id="chart-source-mix"></div>
    </section>
    <section class="card">
      <h2>Time to first touch by rep (minutes)
        <button class="csv" data-csv="time-to-first-touch?by=rep">CSV</button></h2>
      <div class="chart" id="chart-ttft"></div>
    </section>
    <section class="card">
      <h2>First-touch SLA compliance by rep <button class="csv" data-csv="sla">CSV</button></h2>
      <div class="chart" id="chart-sla"></div>
    </section>
    <section class="card">
      <h2>Forecast by expected close month</h2>
      <div class="chart" id="chart-forecast"></div>
    </section>
    <section class="card">
      <h2>What prospects said (Prospect Satisfaction audits), by rep
        <button class="csv" data-csv="audits?by=rep">CSV</button></h2>
      <div class="chart" id="chart-audits"></div>
    </section>
  </div>
  <section class="card wide">
    <h2>Sources: what leads cost and what they became
      <button class="csv" data-csv="costs?by=source">CSV</button></h2>
    <div class="scroll"><table id="table-sources"></table></div>
  </section>
  <section class="card wide">
    <h2>Reps: how fast leads were worked
      <button class="csv" data-csv="follow-up?by=rep">CSV</button></h2>
    <div class="scroll"><table id="table-reps"></table></div>
  </section>
  <section class="card wide">
    <h2>Trace a lead</h2>
    <form id="trace-form">
      <input id="trace-id" placeholder="lead id" spellcheck="false">
      <button type="submit">Show its story</button>
    </form>
    <ol id="trace"></ol>
  </section>
</main>
</body>
</html>
"""

STYLE = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #dde2ea; --bg: #f5f7fa; --card: #fff;
  --marketing: #3b6fd8; --events: #e08a2e; --referrals: #2fa37a; --rep_prospecting: #9353c9;
  --unknown: #9aa3b2; --bad: #c0392b; --good: #2fa37a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--ink); background: var(--bg); }
header { display: flex; align-items: center; gap: 24px; padding: 12px 24px;
  background: var(--ink); color: #fff; }
header h1 { font-size: 18px; margin: 0; flex: 0 0 auto; }
header h1 span { font-weight: 400; opacity: .7; }
header form { display: flex; gap: 8px; align-items: center; margin-left: auto; }
header input, header button { font: inherit; }
main { padding: 16px 24px 32px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 16px; }
.card.wide { margin-top: 16px; }
.card.narrow { max-width: 480px; margin: 48px auto; }
.card h2 { font-size: 14px; margin: 0 0 8px; display: flex; justify-content: space-between;
  align-items: center; gap: 8px; }
.csv { font-size: 11px; padding: 1px 6px; border: 1px solid var(--line); background: #fff;
  border-radius: 4px; cursor: pointer; color: var(--muted); }
.chart svg { width: 100%; height: auto; display: block; }
.chart .empty { color: var(--muted); padding: 40px 0; text-align: center; }
svg text { font-size: 11px; fill: var(--muted); }
svg .value { fill: var(--ink); }
svg .axis { stroke: var(--line); }
.legend { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 6px; color: var(--muted);
  font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 4px; vertical-align: -1px; }
.marketing { fill: var(--marketing); background: var(--marketing); }
.events { fill: var(--events); background: var(--events); }
.referrals { fill: var(--referrals); background: var(--referrals); }
.rep_prospecting { fill: var(--rep_prospecting); background: var(--rep_prospecting); }
.unknown { fill: var(--unknown); background: var(--unknown); }
.s0 { fill: #3b6fd8; background: #3b6fd8; }
.s1 { fill: #9ab5ee; background: #9ab5ee; }
.good { fill: var(--good); background: var(--good); }
.bad { fill: var(--bad); background: var(--bad); }
.warning { background: #fff4e0; border: 1px solid #f0c27a; border-radius: 6px;
  padding: 8px 12px; margin-bottom: 12px; }
.note { color: var(--muted); }
.error { color: var(--bad); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
th:first-child, td:first-child, th.text, td.text { text-align: left; }
th { color: var(--muted); font-weight: 600; }
#trace { padding-left: 20px; }
#trace li { margin: 4px 0; }
#trace code { color: var(--muted); }
label input { margin-left: 4px; }
"""

SCRIPT = r"""
"use strict";
(function () {
  const KEY = "leadfarm.audit.key";
  const API = "/audit/v1";
  const CLASSES = ["marketing", "events", "referrals", "rep_prospecting"];
  const STAGES = ["raw", "basic_qualified", "sales_qualified", "accepted", "opportunity", "won"];
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  function setState(state, message) {
    document.body.dataset.state = state;
    if (message !== undefined) { $("status").textContent = message; }
  }

  function key() { return sessionStorage.getItem(KEY); }

  class AuthError extends Error {}

  async function api(path, accept) {
    const response = await fetch(API + path, {
      headers: { "Authorization": "Bearer " + key(), "Accept": accept || "application/json" },
      cache: "no-store",
    });
    if (response.status === 401 || response.status === 403) {
      throw new AuthError("This key cannot open the dashboard (a manager key is needed).");
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(path + ": " + detail);
    }
    return accept === "text/csv" ? response.text() : response.json();
  }

  function period() {
    const params = [];
    if ($("from").value) { params.push("from=" + $("from").value); }
    if ($("to").value) { params.push("to=" + $("to").value); }
    return params.join("&");
  }

  function metric(path) {
    const extra = period();
    if (!extra) { return api("/metrics/" + path); }
    return api("/metrics/" + path + (path.includes("?") ? "&" : "?") + extra);
  }

  // --- SVG helpers ------------------------------------------------------------------------

  function el(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) { node.setAttribute(name, value); }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function html(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) { node.setAttribute(name, value); }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function empty(container, message) {
    container.replaceChildren(html("div", { class: "empty" }, message || "No data yet."));
    container.dataset.points = "0";
  }

  function legend(container, series) {
    const box = html("div", { class: "legend" });
    for (const s of series) {
      const item = html("span");
      item.append(html("i", { class: s.cls }), document.createTextNode(s.name));
      box.append(item);
    }
    container.append(box);
  }

  // A round step (1, 2 or 5 times a power of ten) giving at most five gridlines.
  function niceStep(value) {
    if (value <= 0) { return 1; }
    const raw = value / 5;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const step of [1, 2, 5, 10]) {
      if (step * power >= raw) { return step * power; }
    }
    return 10 * power;
  }

  function short(value) {
    if (value === null || value === undefined) { return ""; }
    const abs = Math.abs(value);
    const trim = (text) => text.replace(/\.0$/, "");
    if (abs >= 1e6) { return trim((value / 1e6).toFixed(1)) + "M"; }
    if (abs >= 1e3) { return trim((value / 1e3).toFixed(abs >= 1e4 ? 0 : 1)) + "k"; }
    if (Number.isInteger(value)) { return String(value); }
    return value.toFixed(1);
  }

  // Vertical bars: labels on x; series stacked (stack=true) or side by side.
  function bars(container, labels, series, options) {
    const opts = Object.assign({ stack: false, format: short, height: 220 }, options || {});
    const width = 520, height = opts.height, left = 44, bottom = 34, top = 14, right = 8;
    const plotW = width - left - right, plotH = height - top - bottom;
    const totals = labels.map((_, i) => opts.stack
      ? series.reduce((sum, s) => sum + (s.values[i] || 0), 0)
      : Math.max(0, ...series.map((s) => s.values[i] || 0)));
    const step = opts.counts ? Math.max(1, niceStep(Math.max(0, ...totals)))
      : niceStep(Math.max(0, ...totals));
    const ticks = Math.max(1, Math.ceil(Math.max(0, ...totals) / step));
    const max = step * ticks;
    const svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img" });
    for (let t = 0; t <= ticks; t++) {
      const y = top + plotH - (plotH * t) / ticks;
      svg.append(el("line", { x1: left, x2: width - right, y1: y, y2: y, class: "axis" }));
      svg.append(el("text", { x: left - 6, y: y + 4, "text-anchor": "end" },
        opts.format(step * t)));
    }
    const slot = plotW / Math.max(labels.length, 1);
    const every = Math.ceil(48 / slot);  // label every n-th slot so labels never overlap
    const groupW = Math.min(slot * 0.7, 60);
    let points = 0;
    labels.forEach((label, i) => {
      const x0 = left + slot * i + (slot - groupW) / 2;
      let stackY = top + plotH;
      series.forEach((s, k) => {
        const value = s.values[i] || 0;
        const h = (plotH * value) / max;
        const w = opts.stack ? groupW : groupW / series.length;
        const x = opts.stack ? x0 : x0 + w * k;
        const y = opts.stack ? stackY - h : top + plotH - h;
        if (opts.stack) { stackY -= h; }
        if (value > 0) {
          const rect = el("rect", { x: x, y: y, width: Math.max(w - 1, 1), height: h,
            class: "bar " + s.cls, "data-value": value });
          rect.append(el("title", {}, s.name + " " + label + ": " + opts.format(value)));
          svg.append(rect);
          points++;
        }
      });
      const total = totals[i];
      if (total > 0) {
        const y = opts.stack ? stackY : top + plotH - (plotH * total) / max;
        svg.append(el("text", { x: x0 + groupW / 2, y: y - 3, "text-anchor": "middle",
          class: "value" }, opts.format(total)));
      }
      if (i % every === 0) {
        const text = label.length > 12 ? label.slice(0, 11) + "..." : label;
        svg.append(el("text", { x: x0 + groupW / 2, y: height - bottom + 14,
          "text-anchor": "middle" }, text));
      }
    });
    container.replaceChildren(svg);
    if (series.length > 1) { legend(container, series); }
    container.dataset.points = String(points);
  }

  // Horizontal bars of a share (0..1) per label, with a target line.
  function shares(container, labels, values, target) {
    const width = 520, row = 26, left = 120, right = 56, top = 8;
    const height = top * 2 + row * labels.length;
    const plotW = width - left - right;
    const svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img" });
    let points = 0;
    labels.forEach((label, i) => {
      const y = top + row * i;
      const value = values[i];
      svg.append(el("text", { x: left - 8, y: y + 16, "text-anchor": "end" }, label));
      svg.append(el("rect", { x: left, y: y + 4, width: plotW, height: row - 10,
        fill: "#eef1f5" }));
      if (value !== null && value !== undefined) {
        const cls = value >= target ? "good" : "bad";
        const rect = el("rect", { x: left, y: y + 4, width: Math.max(plotW * value, 1),
          height: row - 10, class: "bar " + cls, "data-value": value });
        rect.append(el("title", {}, label + ": " + Math.round(value * 100) + "%"));
        svg.append(rect);
        svg.append(el("text", { x: left + plotW + 6, y: y + 16, class: "value" },
          Math.round(value * 100) + "%"));
        points++;
      } else {
        svg.append(el("text", { x: left + plotW + 6, y: y + 16 }, "n/a"));
      }
    });
    const tx = left + plotW * target;
    svg.append(el("line", { x1: tx, x2: tx, y1: 2, y2: height - 2, stroke: "#1d2430",
      "stroke-dasharray": "3 3" }));
    container.replaceChildren(svg);
    legend(container, [{ name: "at or above " + Math.round(target * 100) + "%", cls: "good" },
      { name: "below", cls: "bad" }]);
    container.dataset.points = String(points);
  }

  function repLabel(row) { return row.rep_name || row.rep_id; }
  function minutes(seconds) { return seconds === null ? 0 : seconds / 60; }
  function missing(value) { return value === null || value === undefined; }
  function pct(value) { return missing(value) ? "" : Math.round(value * 100) + "%"; }
  function num(value) { return missing(value) ? "" : String(value); }
  function cash(value, currency) {
    if (missing(value)) { return ""; }
    return Number(value).toLocaleString("en-US", { style: "currency", currency: currency,
      maximumFractionDigits: 0 });
  }
  function mins(seconds) { return missing(seconds) ? "" : (seconds / 60).toFixed(1); }

  // --- the charts -------------------------------------------------------------------------

  function drawFunnel(report) {
    const box = $("chart-funnel");
    if (!report.total || !report.total.raw) { return empty(box); }
    const byClass = Object.fromEntries(report.rows.map((r) => [r.source_class, r]));
    const present = [...CLASSES, "unknown"].filter((c) => byClass[c]);
    const names = ["raw", "basic-q.", "sales-q.", "accepted", "opportunity", "won"];
    bars(box, names, present.map((c) => ({
      name: c.replace("_", " "), cls: c, values: STAGES.map((s) => byClass[c][s]),
    })), { stack: true, counts: true });
  }

  function drawMix(report) {
    const box = $("chart-source-mix");
    const warnings = $("warnings");
    warnings.replaceChildren(...report.warnings.map((w) => html("p", { class: "warning" },
      "Source mix: " + w.message)));
    if (!report.rows.length) { return empty(box); }
    bars(box, report.rows.map((r) => r.period.replace(/^\d{4}-/, "")), [...CLASSES, "unknown"]
      .filter((c) => report.rows.some((r) => r[c] > 0))
      .map((c) => ({ name: c.replace("_", " "), cls: c, values: report.rows.map((r) => r[c]) })),
    { stack: true, counts: true });
  }

  function drawTtft(report) {
    const box = $("chart-ttft");
    const rows = report.rows.filter((r) => r.touched > 0);
    if (!rows.length) { return empty(box, "No touched assignments yet."); }
    bars(box, rows.map(repLabel), [
      { name: "median (p50)", cls: "s0", values: rows.map((r) => minutes(r.p50_seconds)) },
      { name: "p90", cls: "s1", values: rows.map((r) => minutes(r.p90_seconds)) },
    ]);
  }

  function drawSla(report) {
    const box = $("chart-sla");
    const rows = report.rows.filter((r) => r.due > 0);
    if (!rows.length) { return empty(box, "No first-touch deadline has passed yet."); }
    shares(box, rows.map(repLabel), rows.map((r) => r.compliance), 0.9);
  }

  function drawForecast(forecast) {
    const box = $("chart-forecast");
    const rows = forecast.by_period;
    if (!rows.length) { return empty(box, "No lead is on the forecast yet."); }
    bars(box, rows.map((r) => r.key), [
      { name: "open (" + forecast.currency + ")", cls: "s0",
        values: rows.map((r) => Number(r.open_amount)) },
      { name: "won", cls: "good", values: rows.map((r) => Number(r.won_amount)) },
    ], { stack: true });
    const basis = forecast.basis;
    box.append(html("p", { class: "note" }, "Each sales-qualified short-term lead counts " +
      cash(basis.per_lead, forecast.currency) + " (" + Math.round(basis.share * 100) +
      "% of " + (basis.learned ? "the closed-won average " : "the default ") + "deal size " +
      cash(basis.average_deal_size, forecast.currency) + "). Open: " +
      forecast.total.open_leads + " leads, " + cash(forecast.total.open_amount, forecast.currency) +
      "; pending removal: " + forecast.total.pending_removal + "."));
  }

  function drawAudits(report) {
    const box = $("chart-audits");
    if (!report.rows.length) { return empty(box, "No Prospect Satisfaction audit recorded yet."); }
    bars(box, report.rows.map(repLabel), [
      { name: "bought from us", cls: "good", key: "bought_from_us" },
      { name: "still evaluating", cls: "s1", key: "still_evaluating" },
      { name: "no decision", cls: "unknown", key: "no_decision" },
      { name: "bought from a competitor", cls: "bad", key: "bought_from_competitor" },
    ].map((s) => Object.assign(s, { values: report.rows.map((r) => r[s.key]) })),
    { stack: true, counts: true });
  }

  function table(id, columns, rows) {
    const node = $(id);
    const head = html("tr");
    for (const c of columns) { head.append(html("th", { class: c.text ? "text" : "" }, c.title)); }
    const body = rows.map((row) => {
      const tr = html("tr");
      for (const c of columns) {
        tr.append(html("td", { class: c.text ? "text" : "" }, c.value(row)));
      }
      return tr;
    });
    node.replaceChildren(html("thead"), html("tbody"));
    node.tHead.append(head);
    node.tBodies[0].append(...body);
    node.dataset.rows = String(rows.length);
  }

  function index(report, key) {
    return Object.fromEntries(report.rows.map((r) => [r[key], r]));
  }

  function drawSources(costs, funnel, follow, ttft, close) {
    const f = index(funnel, "source"), u = index(follow, "source"),
      t = index(ttft, "source"), c = index(close, "source");
    const cur = costs.currency;
    table("table-sources", [
      { title: "Source", text: true, value: (r) => r.source },
      { title: "Class", text: true, value: (r) => (r.source_class || "").replace("_", " ") },
      { title: "Leads", value: (r) => num(r.leads) },
      { title: "Sales-qualified", value: (r) => num((f[r.source] || {}).sales_qualified) },
      { title: "Won", value: (r) => num(r.won) },
      { title: "Spend", value: (r) => cash(r.spend, cur) },
      { title: "Cost per lead", value: (r) => cash(r.cost_per_lead, cur) },
      { title: "Cost per sale", value: (r) => cash(r.cost_per_closed_sale, cur) },
      { title: "Followed up", value: (r) => pct((u[r.source] || {}).follow_up_rate) },
      { title: "Within SLA", value: (r) => pct((u[r.source] || {}).within_sla_rate) },
      { title: "First touch p50 (min)", value: (r) => mins((t[r.source] || {}).p50_seconds) },
      { title: "Lead to win (days)", value: (r) => num((c[r.source] || {}).mean_days) },
    ], costs.rows);
  }

  function drawReps(follow, ttft, sla, audits, close) {
    const t = index(ttft, "rep_id"), s = index(sla, "rep_id"), a = index(audits, "rep_id"),
      c = index(close, "rep_id");
    table("table-reps", [
      { title: "Rep", text: true, value: (r) => repLabel(r) },
      { title: "Assigned", value: (r) => num(r.assigned) },
      { title: "Followed up", value: (r) => pct(r.follow_up_rate) },
      { title: "Within SLA", value: (r) => pct(r.within_sla_rate) },
      { title: "First touch p50 (min)", value: (r) => mins((t[r.rep_id] || {}).p50_seconds) },
      { title: "p90 (min)", value: (r) => mins((t[r.rep_id] || {}).p90_seconds) },
      { title: "SLA compliance", value: (r) => pct((s[r.rep_id] || {}).compliance) },
      { title: "Audits", value: (r) => num((a[r.rep_id] || {}).audits) },
      { title: "Satisfaction", value: (r) => num((a[r.rep_id] || {}).mean_satisfaction) },
      { title: "Logged, prospect denies",
        value: (r) => num((a[r.rep_id] || {}).logged_but_denied) },
      { title: "Won", value: (r) => num((c[r.rep_id] || { won: 0 }).won) },
    ], follow.rows);
  }

  async function load() {
    setState("loading", "Loading...");
    try {
      const [funnelClass, funnelSource, mix, ttftRep, ttftSource, sla, forecast, costs,
        followRep, followSource, audits, closeSource, closeRep] = await Promise.all([
        metric("funnel?by=source_class"), metric("funnel?by=source"),
        metric("source-mix?interval=week"), metric("time-to-first-touch?by=rep"),
        metric("time-to-first-touch?by=source"), metric("sla"), api("/forecast"),
        metric("costs?by=source"), metric("follow-up?by=rep"), metric("follow-up?by=source"),
        metric("audits?by=rep"), metric("lead-to-close?by=source"), metric("lead-to-close?by=rep"),
      ]);
      drawFunnel(funnelClass);
      drawMix(mix);
      drawTtft(ttftRep);
      drawSla(sla);
      drawForecast(forecast);
      drawAudits(audits);
      drawSources(costs, funnelSource, followSource, ttftSource, closeSource);
      drawReps(followRep, ttftRep, sla, audits, closeRep);
      setState("ready", "Updated " + new Date().toLocaleString() + ".");
    } catch (error) {
      if (error instanceof AuthError) { return signOut(error.message); }
      setState("error", "Could not load the dashboard: " + error.message);
    }
  }

  async function download(path) {
    const sep = path.includes("?") ? "&" : "?";
    const extra = period();
    const text = await api("/metrics/" + path + sep + "format=csv" + (extra ? "&" + extra : ""),
      "text/csv");
    const link = html("a", { download: path.split("?")[0] + ".csv" });
    link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    document.body.append(link);
    link.click();
    link.remove();
  }

  async function trace(leadId) {
    const list = $("trace");
    list.replaceChildren();
    try {
      const timeline = await api("/leads/" + encodeURIComponent(leadId) + "/timeline");
      for (const event of timeline.events) {
        const item = html("li");
        const data = event.data || {};
        const facts = ["rep_id", "stage", "term", "channel", "outcome", "reason", "action",
          "amount", "won", "sla", "decision", "satisfaction"]
          .filter((k) => data[k] !== undefined && data[k] !== null && typeof data[k] !== "object")
          .map((k) => k + "=" + data[k]);
        if (data.decision && data.decision.stage) { facts.unshift("stage=" + data.decision.stage); }
        item.append(html("code", {}, event.time.replace("T", " ").slice(0, 19) + " "),
          html("strong", {}, event.type.replace(/^leadfarm\./, "")),
          document.createTextNode(" from " + event.source.replace("/leadfarm/", "") +
            (facts.length ? " - " + facts.join(", ") : "")));
        list.append(item);
      }
    } catch (error) {
      if (error instanceof AuthError) { return signOut(error.message); }
      list.append(html("li", { class: "error" }, error.message));
    }
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    show();
    const box = $("sign-in-error");
    box.hidden = !message;
    box.textContent = message || "";
  }

  function show() {
    const signedIn = Boolean(key());
    $("sign-in").hidden = signedIn;
    $("board").hidden = !signedIn;
    $("sign-out").hidden = !signedIn;
    $("period-form").hidden = !signedIn;
    document.body.dataset.state = signedIn ? "loading" : "signed-out";
    if (signedIn) { load(); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("key").value.trim());
      $("key").value = "";
      $("sign-in-error").hidden = true;
      show();
    });
    $("sign-out").addEventListener("click", () => signOut());
    $("period-form").addEventListener("submit", (event) => { event.preventDefault(); load(); });
    $("trace-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = $("trace-id").value.trim();
      if (id) { trace(id); }
    });
    for (const button of document.querySelectorAll("button.csv")) {
      button.addEventListener("click", () => download(button.dataset.csv).catch((error) => {
        $("status").textContent = "CSV download failed: " + error.message;
      }));
    }
    show();
  });
})();
"""


def add_routes(router: APIRouter) -> None:
    """The page and its two assets; none holds data, so none needs a key."""

    @router.get("/dashboard", include_in_schema=False)
    async def page() -> Response:
        return Response(PAGE, media_type="text/html; charset=utf-8", headers=HEADERS)

    @router.get("/dashboard/app.js", include_in_schema=False)
    async def script() -> Response:
        return Response(SCRIPT, media_type="text/javascript; charset=utf-8", headers=HEADERS)

    @router.get("/dashboard/app.css", include_in_schema=False)
    async def style() -> Response:
        return Response(STYLE, media_type="text/css; charset=utf-8", headers=HEADERS)
