// The sales manager's dashboard: signs in with a key kept in sessionStorage, reads audit's
// JSON endpoints, draws the charts with Chart.js (served from this origin, see
// audit/static/vendor/README.md) and the tables, and traces one lead's story.
"use strict";
(function () {
  const F = window.LeadfarmFormat;
  const API = "/audit/v1";
  const CLASSES = ["marketing", "events", "referrals", "rep_prospecting", "unknown"];
  const CLASS_NAMES = { marketing: "Marketing", events: "Events", referrals: "Referrals",
    rep_prospecting: "Rep prospecting", unknown: "Unknown" };
  const COLORS = { marketing: "#3b6fd8", events: "#e08a2e", referrals: "#2fa37a",
    rep_prospecting: "#9353c9", unknown: "#9aa3b2", s0: "#3b6fd8", s1: "#9ab5ee",
    good: "#2fa37a", bad: "#c0392b", grey: "#9aa3b2" };
  // The funnel's stages in words, then the leads that left it.
  const STAGES = [
    ["raw", "All leads"], ["basic_qualified", "Basic qualified"],
    ["sales_qualified", "Sales qualified"], ["accepted", "Accepted by a rep"],
    ["opportunity", "Opportunity"], ["won", "Won"], ["disqualified", "Disqualified"],
  ];
  const SLA_TARGET = 0.9;
  const $ = (id) => document.getElementById(id);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  let currency = "USD";
  let repNames = {};

  function setState(state, message) {
    document.body.dataset.state = state;
    if (message !== undefined) { $("status").textContent = message; }
  }

  const S = window.LeadfarmSignIn;
  const AuthError = S.AuthError;
  let signOut = () => {};

  async function api(path, accept) {
    const response = await fetch(API + path, {
      headers: S.headers({ "Accept": accept || "application/json" }),
      cache: "no-store",
    });
    if (response.status === 401 || response.status === 403) {
      throw new AuthError(await S.refusal(response, "dashboard"));
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(detail);
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

  function html(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) { node.setAttribute(name, value); }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // --- charts -------------------------------------------------------------------------------

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#5b6575";

  function empty(box, message) {
    const old = Chart.getChart(box.querySelector("canvas"));
    if (old) { old.destroy(); }
    box.classList.add("is-empty");
    box.querySelector(".empty")?.remove();
    box.append(html("div", { class: "empty" }, message || "No data yet."));
    box.dataset.points = "0";
  }

  function draw(box, config) {
    box.classList.remove("is-empty");
    box.querySelector(".empty")?.remove();
    const canvas = box.querySelector("canvas");
    const old = Chart.getChart(canvas);
    if (old) { old.destroy(); }
    const chart = new Chart(canvas, config);
    box.dataset.points = String(config.data.datasets.reduce(
      (n, d) => n + d.data.filter((v) => v !== null && v !== undefined && v !== 0).length, 0));
    return chart;
  }

  // Ticks with as many decimals as their step needs, and a unit.
  function ticksIn(suffix) {
    return function (value, index, ticks) {
      const step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : 1;
      return F.tick(value, step, suffix);
    };
  }

  function countAxis(title) {
    return { beginAtZero: true, stacked: true, title: { display: Boolean(title), text: title },
      ticks: { precision: 0, callback: (v) => F.count(v) } };
  }

  // Every label shown: on lines of about 12 characters where each has room for that, else
  // whole and slanted (Chart.js rotates labels that would overlap).
  const wrappedTicks = { autoSkip: false, maxRotation: 60, callback: function (value) {
    const label = this.getLabelForValue(value);
    const room = this.chart.width / Math.max(1, this.chart.data.labels.length);
    return room >= 72 ? F.lines(label, 12) : label;
  } };

  function stackedBars(box, labels, series, yTitle, tooltip, xTicks) {
    return draw(box, {
      type: "bar",
      data: { labels: labels, datasets: series.map((s) => ({
        label: s.name, data: s.values, backgroundColor: COLORS[s.color], stack: "all" })) },
      options: {
        scales: { x: { stacked: true, ticks: xTicks || { autoSkip: true, maxRotation: 0 } },
          y: countAxis(yTitle) },
        plugins: { legend: { display: series.length > 1, position: "bottom" },
          tooltip: tooltip ? { callbacks: { label: tooltip } } : {} },
      },
    });
  }

  function repLabel(row) { return repNames[row.rep_id] || row.rep_name || row.rep_id; }

  function drawFunnel(report) {
    const box = $("chart-funnel");
    if (!report.total || !report.total.raw) {
      $("note-funnel").textContent = "";
      return empty(box);
    }
    const byClass = Object.fromEntries(report.rows.map((r) => [r.source_class, r]));
    const present = CLASSES.filter((c) => byClass[c]);
    stackedBars(box, STAGES.map((s) => s[1]), present.map((c) => ({
      name: CLASS_NAMES[c], color: c, values: STAGES.map((s) => byClass[c][s[0]] || 0),
    })), "leads", null, wrappedTicks);
    const total = report.total;
    $("note-funnel").textContent = F.count(total.raw) + " leads captured; " +
      F.count(total.disqualified || 0) + " disqualified by the qualifier (" +
      F.percent(total.raw ? (total.disqualified || 0) / total.raw : 0) + "), " +
      F.count(total.won) + " won.";
  }

  function drawMix(report) {
    const box = $("chart-source-mix");
    $("warnings").replaceChildren(...report.warnings.map((w) => html("p", { class: "warning" },
      "Source mix: " + w.message)));
    if (!report.rows.length) { return empty(box); }
    stackedBars(box, report.rows.map((r) => r.period), CLASSES
      .filter((c) => report.rows.some((r) => r[c] > 0))
      .map((c) => ({ name: CLASS_NAMES[c], color: c, values: report.rows.map((r) => r[c]) })),
    "leads captured");
  }

  function drawTtft(report) {
    const box = $("chart-ttft");
    const rows = report.rows.filter((r) => r.touched > 0);
    if (!rows.length) { return empty(box, "No touched assignments yet."); }
    const longest = Math.max(0, ...rows.map((r) => Math.max(r.p50_seconds || 0,
      r.p90_seconds || 0)));
    const unit = F.durationUnit(longest);
    const inUnit = (s) => (s === null || s === undefined ? null : s / unit.seconds);
    const series = [["Median (p50)", "s0", "p50_seconds"], ["p90", "s1", "p90_seconds"]];
    draw(box, {
      type: "bar",
      data: { labels: rows.map(repLabel), datasets: series.map(([name, color, field]) => ({
        label: name, data: rows.map((r) => inUnit(r[field])), backgroundColor: COLORS[color],
        seconds: rows.map((r) => r[field]) })) },
      options: {
        scales: { x: { ticks: wrappedTicks },
          y: { beginAtZero: true, title: { display: true, text: unit.name },
          ticks: { callback: ticksIn(unit.short) } } },
        plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: (item) =>
          item.dataset.label + ": " + F.duration(item.dataset.seconds[item.dataIndex]) } } },
      },
    });
    box.dataset.unit = unit.name;
  }

  // A dashed line at the SLA target, drawn over the bars.
  const targetLine = {
    id: "targetLine",
    afterDatasetsDraw(chart, args, options) {
      const x = chart.scales.x.getPixelForValue(options.value);
      const { top, bottom } = chart.chartArea;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#1d2430";
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      ctx.restore();
    },
  };

  function drawSla(report) {
    const box = $("chart-sla");
    const rows = report.rows.filter((r) => r.due > 0);
    const total = report.total || {};
    $("note-sla").textContent = "Share of first touches made by the deadline, of the " +
      F.count(total.due || 0) + " assignments whose deadline has passed or that were touched; " +
      F.count(total.pending || 0) + " not yet due are counted when they are. Dashed line: the " +
      F.percent(SLA_TARGET) + " target.";
    if (!rows.length) { return empty(box, "No first-touch deadline has passed yet."); }
    draw(box, {
      type: "bar",
      data: { labels: rows.map(repLabel), datasets: [{
        label: "Within SLA", data: rows.map((r) => r.compliance),
        backgroundColor: rows.map((r) => COLORS[r.compliance >= SLA_TARGET ? "good" : "bad"]),
      }] },
      options: {
        indexAxis: "y",
        scales: { x: { min: 0, max: 1, ticks: { callback: (v) => F.percent(v) } } },
        plugins: {
          legend: { display: false },
          targetLine: { value: SLA_TARGET },
          tooltip: { callbacks: { label: (item) => {
            const r = rows[item.dataIndex];
            return F.percent(r.compliance) + ": " + r.met + " of " + r.due + " on time" +
              (r.pending ? " (" + r.pending + " not yet due)" : "");
          } } },
        },
      },
      plugins: [targetLine],
    });
  }

  function drawForecast(forecast) {
    const box = $("chart-forecast");
    const rows = forecast.by_period;
    const cur = forecast.currency;
    const basis = forecast.basis;
    const total = forecast.total;
    $("note-forecast").textContent = "Open: each sales-qualified short-term lead counts " +
      F.money(basis.per_lead, cur) + " (" + F.percent(Number(basis.share)) + " of " +
      (basis.learned ? "the closed-won average " : "the default ") + "deal size " +
      F.money(basis.average_deal_size, cur) + "). Won: the deal's amount. Open " +
      F.count(total.open_leads) + " leads, " + F.money(total.open_amount, cur) + "; won " +
      F.count(total.won_leads) + ", " + F.money(total.won_amount, cur) +
      "; pending removal: " + F.count(total.pending_removal) + ".";
    if (!rows.length) { return empty(box, "No lead is on the forecast yet."); }
    const series = [["Open", "s0", "open_amount"], ["Won", "good", "won_amount"]];
    draw(box, {
      type: "bar",
      data: { labels: rows.map((r) => r.key), datasets: series.map(([name, color, field]) => ({
        label: name + " (" + cur + ")", data: rows.map((r) => Number(r[field])),
        backgroundColor: COLORS[color], stack: "all" })) },
      options: {
        scales: { x: { stacked: true },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: cur },
            ticks: { callback: (v) => F.money(v, cur, true) } } },
        plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: (item) =>
          item.dataset.label + ": " + F.money(item.raw, cur) } } },
      },
    });
  }

  function drawAudits(report) {
    const box = $("chart-audits");
    if (!report.rows.length) { return empty(box, "No Prospect Satisfaction audit recorded yet."); }
    stackedBars(box, report.rows.map(repLabel), [
      { name: "Bought from us", color: "good", key: "bought_from_us" },
      { name: "Still evaluating", color: "s1", key: "still_evaluating" },
      { name: "No decision", color: "grey", key: "no_decision" },
      { name: "Bought from a competitor", color: "bad", key: "bought_from_competitor" },
    ].map((s) => Object.assign(s, { values: report.rows.map((r) => r[s.key]) })), "audits", null,
    wrappedTicks);
  }

  // --- tables -------------------------------------------------------------------------------

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
      { title: "Class", text: true, value: (r) => CLASS_NAMES[r.source_class] || "" },
      { title: "Leads", value: (r) => F.count(r.leads) },
      { title: "Disqualified", value: (r) => F.count((f[r.source] || {}).disqualified) },
      { title: "Sales-qualified", value: (r) => F.count((f[r.source] || {}).sales_qualified) },
      { title: "Won", value: (r) => F.count(r.won) },
      { title: "Spend", value: (r) => F.money(r.spend, cur) },
      { title: "Cost per lead", value: (r) => F.money(r.cost_per_lead, cur) },
      { title: "Cost per sale", value: (r) => F.money(r.cost_per_closed_sale, cur) },
      { title: "Followed up", value: (r) => F.percent((u[r.source] || {}).follow_up_rate) },
      { title: "Within SLA", value: (r) => F.percent((u[r.source] || {}).within_sla_rate) },
      { title: "First touch p50", value: (r) => F.duration((t[r.source] || {}).p50_seconds) },
      { title: "Lead to win", value: (r) => {
        const days = (c[r.source] || {}).mean_days;
        return days === null || days === undefined ? "" : F.number(days) + " d";
      } },
    ], costs.rows);
  }

  function drawReps(follow, ttft, sla, audits, close) {
    const t = index(ttft, "rep_id"), s = index(sla, "rep_id"), a = index(audits, "rep_id"),
      c = index(close, "rep_id");
    table("table-reps", [
      { title: "Rep", text: true, value: (r) => repLabel(r) },
      { title: "Assigned", value: (r) => F.count(r.assigned) },
      { title: "Followed up", value: (r) => F.percent(r.follow_up_rate) },
      // The SLA chart's number, from the same report.
      { title: "Within SLA", value: (r) => F.percent((s[r.rep_id] || {}).compliance) },
      { title: "Not yet due", value: (r) => F.count((s[r.rep_id] || {}).pending) },
      { title: "First touch p50", value: (r) => F.duration((t[r.rep_id] || {}).p50_seconds) },
      { title: "p90", value: (r) => F.duration((t[r.rep_id] || {}).p90_seconds) },
      { title: "Audits", value: (r) => F.count((a[r.rep_id] || {}).audits) },
      { title: "Satisfaction (1-5)", value: (r) => F.number((a[r.rep_id] || {}).mean_satisfaction) },
      { title: "Logged, prospect denies",
        value: (r) => F.count((a[r.rep_id] || {}).logged_but_denied) },
      { title: "Won", value: (r) => F.count((c[r.rep_id] || { won: 0 }).won) },
    ], follow.rows);
  }

  async function load() {
    setState("loading", "Loading...");
    try {
      const [funnelClass, funnelSource, mix, ttftRep, ttftSource, sla, forecast, costs,
        followRep, followSource, audits, closeSource, closeRep, reps] = await Promise.all([
        metric("funnel?by=source_class"), metric("funnel?by=source"),
        metric("source-mix?interval=week"), metric("time-to-first-touch?by=rep"),
        metric("time-to-first-touch?by=source"), metric("sla"),
        api("/forecast"),
        metric("costs?by=source"), metric("follow-up?by=rep"), metric("follow-up?by=source"),
        metric("audits?by=rep"), metric("lead-to-close?by=source"), metric("lead-to-close?by=rep"),
        api("/reps"),
      ]);
      repNames = Object.fromEntries(reps.map((r) => [r.rep_id, r.name]));
      currency = forecast.currency;
      drawFunnel(funnelClass);
      drawMix(mix);
      drawTtft(ttftRep);
      drawSla(sla);
      drawForecast(forecast);
      drawAudits(audits);
      drawSources(costs, funnelSource, followSource, ttftSource, closeSource);
      drawReps(followRep, ttftRep, sla, audits, closeRep);
      setState("ready", "Updated " + F.localTime(new Date().toISOString(), zone) + ".");
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

  // --- a lead's story -----------------------------------------------------------------------

  const TIMES = ["at", "due_at", "first_touch_due_at", "received_at", "next_touch_at",
    "held_until", "requested_at"];
  const WORDS = ["stage", "term", "channel", "outcome", "reason", "action", "sla", "decision",
    "satisfaction", "queue", "track", "period", "matched_on"];

  function who(repId, data) {
    return repNames[repId] || (data && data.rep_id === repId && data.rep_name) || repId;
  }

  function facts(data) {
    const out = [];
    if (data.from_rep_id) { out.push("from " + who(data.from_rep_id)); }
    if (data.rep_id) { out.push("rep " + who(data.rep_id, data)); }
    if (data.decision && typeof data.decision === "object" && data.decision.stage) {
      out.push("stage " + data.decision.stage.replace(/_/g, " "));
    }
    for (const k of WORDS) {
      const v = data[k];
      if (v !== undefined && v !== null && typeof v !== "object") {
        out.push(k.replace(/_/g, " ") + " " + String(v).replace(/_/g, " "));
      }
    }
    if (data.won !== undefined && data.won !== null) { out.push(data.won ? "won" : "lost"); }
    if (data.amount !== undefined && data.amount !== null) {
      out.push("amount " + F.money(data.amount, data.currency || currency));
    }
    for (const k of TIMES) {
      if (data[k]) { out.push(k.replace(/_/g, " ") + " " + F.localTime(data[k], zone)); }
    }
    return out;
  }

  function title(type) {
    const name = type.replace(/^leadfarm\./, "").replace(/\.v\d+$/, "");
    const words = name.replace(/[._]/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  async function story(match) {
    const list = $("trace");
    list.replaceChildren();
    const head = $("trace-lead");
    head.replaceChildren(
      html("strong", {}, match.email || match.company || match.lead_id),
      document.createTextNode([
        match.company && match.email ? " at " + match.company : "",
        match.rep_id ? ", assigned to " + (match.rep_name || who(match.rep_id)) : ", not assigned",
        ", " + match.stage.replace(/_/g, " "),
      ].join("")),
      html("br"), html("code", {}, "lead " + match.lead_id),
      html("p", { class: "note" }, "Times are in " + zone + " (this browser's time zone)."));
    const timeline = await api("/leads/" + encodeURIComponent(match.lead_id) + "/timeline");
    for (const event of timeline.events) {
      const said = facts(event.data || {});
      const item = html("li");
      list.append(item);
      item.append(html("time", { datetime: event.time }, F.localTime(event.time, zone)), " ",
        html("strong", {}, title(event.type)),
        document.createTextNode(" (" + event.source.replace("/leadfarm/", "") + ")" +
          (said.length ? ": " + said.join(", ") : "") + " "),
        html("code", {}, event.type.replace(/^leadfarm\./, "")));
    }
  }

  async function trace(text) {
    const matches = $("trace-matches");
    matches.replaceChildren();
    $("trace").replaceChildren();
    $("trace-lead").replaceChildren();
    try {
      const found = await api("/leads?q=" + encodeURIComponent(text));
      if (!found.length) {
        matches.append(html("li", { class: "note" }, "No lead matches " + JSON.stringify(text) +
          " (an email is matched whole; a company by any part of its name)."));
        return;
      }
      if (found.length === 1) { return await story(found[0]); }
      for (const match of found) {
        const button = html("button", { type: "button" }, [match.email, match.company,
          match.rep_name || match.rep_id, "captured " + F.localTime(match.captured_at, zone)]
          .filter(Boolean).join(" - "));
        button.addEventListener("click", () => story(match).catch(showTraceError));
        const item = html("li");
        item.append(button);
        matches.append(item);
      }
    } catch (error) {
      showTraceError(error);
    }
  }

  function showTraceError(error) {
    if (error instanceof AuthError) { return signOut(error.message); }
    $("trace-matches").replaceChildren(html("li", { class: "error" }, error.message));
  }

  // --- signing in and out (audit/static/signin.js) ------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("period-form").addEventListener("submit", (event) => { event.preventDefault(); load(); });
    $("trace-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("trace-id").value.trim();
      if (text) { trace(text); }
    });
    for (const button of document.querySelectorAll("button.csv")) {
      button.addEventListener("click", () => download(button.dataset.csv).catch((error) => {
        $("status").textContent = "CSV download failed: " + error.message;
      }));
    }
    signOut = S.mount({ shown: ["board", "period-form"], onSignedIn: load });
  });
})();
