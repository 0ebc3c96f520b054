// Backtests in the console: run a candidate (rules and pools, or definitions) over a window
// of archived leads through `POST /router/v1/backtests` or `POST /qualifier/v1/backtests`,
// follow the job's progress, and show its comparison side by side (docs/routing.md and
// docs/qualification.md, "Backtests"). Kept backtests are listed and can be shown again.
"use strict";
window.LeadfarmBacktest = (function () {
  const POLL_MS = 400;
  const SHOWN = 50; // rows of a long list shown; the rest are counted

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) { node.setAttribute(k, v === true ? "" : v); }
    }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function local(iso) {
    if (!iso) { return "-"; }
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function day(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate());
  }

  // The window inputs of a backtest box: two dates, the last 30 days by default (the "to"
  // day included, so the window ends at the next midnight, in the browser's time zone).
  function windowFields(box) {
    const now = new Date();
    const from = new Date(now.getTime() - 30 * 86400000);
    const fields = el("div", { class: "fields" });
    const since = el("input", { type: "date", name: "since", value: day(from) });
    const until = el("input", { type: "date", name: "until", value: day(now) });
    const l1 = el("label", { "data-field": "since" }, "From ");
    l1.append(since);
    const l2 = el("label", { "data-field": "until" }, "to (inclusive) ");
    l2.append(until);
    fields.append(l1, l2);
    box.append(fields);
    return () => {
      const start = new Date(since.value + "T00:00");
      const end = new Date(until.value + "T00:00");
      end.setDate(end.getDate() + 1);
      return { since: isNaN(start) ? "" : start.toISOString(),
        until: isNaN(end) ? "" : end.toISOString() };
    };
  }

  // Start a backtest and follow it until it is done or failed; `progress(job)` hears of
  // each step. Answers the finished job.
  async function run(api, base, body, progress) {
    let job = await api("POST", base, body);
    progress(job);
    while (job.status === "running") {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await api("GET", base + "/" + encodeURIComponent(job.id));
      progress(job);
    }
    return job;
  }

  function progressText(job) {
    const p = job.progress || {};
    if (job.status === "failed") { return "Failed: " + (job.error || "unknown error"); }
    const of = p.total == null ? "" : " of " + p.total;
    return (job.status === "done" ? "Done: " : "Replaying: ") + p.processed + of +
      " archived events";
  }

  function sideTable(title, rows, attrs) {
    const wrap = el("div", { class: "bt-table" });
    wrap.append(el("h4", {}, title));
    const t = el("table", attrs || {});
    const head = el("tr");
    for (const c of ["", "now", "candidate", "change"]) { head.append(el("th", {}, c)); }
    t.append(head);
    for (const r of rows) {
      const delta = r.candidate - r.current;
      const tr = el("tr", { "data-key": r.key, class: delta ? "moved" : "" });
      tr.append(el("td", {}, r.label || r.key), el("td", {}, String(r.current)),
        el("td", {}, String(r.candidate)),
        el("td", { class: delta > 0 ? "up" : delta < 0 ? "down" : "" },
          delta ? (delta > 0 ? "+" : "") + delta : ""));
      t.append(tr);
    }
    if (!rows.length) { t.append(el("tr", {}, "")); t.lastChild.append(el("td", { colspan: 4 }, "none")); }
    wrap.append(t);
    return wrap;
  }

  function listTable(title, columns, rows, attrs) {
    const wrap = el("div", { class: "scroll" });
    wrap.append(el("h4", {}, title + (rows.length > SHOWN ? " (the first " + SHOWN + " of " +
      rows.length + ")" : "")));
    const t = el("table", attrs || {});
    const head = el("tr");
    for (const c of columns) { head.append(el("th", {}, c.title)); }
    t.append(head);
    for (const row of rows.slice(0, SHOWN)) {
      const tr = el("tr", { "data-lead": row.lead_id || row.rep_id || "" });
      for (const c of columns) {
        const td = el("td");
        const v = c.value(row);
        if (v instanceof Node) { td.append(v); } else { td.textContent = v ?? ""; }
        tr.append(td);
      }
      t.append(tr);
    }
    if (!rows.length) {
      const tr = el("tr");
      tr.append(el("td", { colspan: columns.length }, "none"));
      t.append(tr);
    }
    wrap.append(t);
    return wrap;
  }

  // A side's placement of a lead, with its explanation: the rule checks that decided it.
  function placement(p, names) {
    const box = el("div", { class: "placement" });
    const rep = p.rep_id ? (names[p.rep_id] || p.rep_id) : "nobody";
    box.append(el("strong", {}, p.outcome + ": " + (p.rule === "default" ? "no rule" : p.rule) +
      " → " + p.pool + " → " + rep));
    box.append(el("div", { class: "note" }, p.why));
    const checks = ((p.explanation || {}).rules_checked) || [];
    if (checks.length) {
      const details = el("details");
      details.append(el("summary", {}, "rules checked"));
      const ol = el("ol");
      for (const c of checks) {
        ol.append(el("li", { class: c.matched ? "good" : "" }, c.rule + ": " + (c.matched ?
          "matched" + ((c.held || []).length ? " (" + c.held.join("; ") + ")" : "") :
          "did not match (" + (c.failed || []).join("; ") + ")")));
      }
      details.append(ol);
      box.append(details);
    }
    return box;
  }

  function leads(n) { return n + (n === 1 ? " lead" : " leads"); }

  function minutes(m) { return m == null ? "-" : Math.round(m) + " min"; }

  // The router's comparison: leads per outcome, rule, pool and rep; the leads that would
  // move with both explanations; each rep's load against their caps; first-touch deadlines.
  function renderRouter(job, out, names) {
    const r = job.result;
    out.replaceChildren();
    out.dataset.leads = String(r.leads);
    out.dataset.changed = String(r.changed);
    out.append(el("p", { class: "bt-summary" }, leads(r.leads) + " qualified from " +
      local(job.since) + " to " + local(job.until) + "; " + r.changed +
      " would be routed differently by the candidate."));
    const grid = el("div", { class: "bt-grid" });
    grid.append(sideTable("Outcome", r.outcomes),
      sideTable("Rule", r.rules.map((c) => Object.assign({ label: c.key === "default" ?
        "no rule matched" : c.key }, c)), { class: "bt-rules" }),
      sideTable("Pool", r.pools, { class: "bt-pools" }),
      sideTable("Rep", r.reps.map((p) => ({ key: p.rep_id, label: p.name,
        current: p.current.assigned, candidate: p.candidate.assigned })), { class: "bt-reps" }));
    out.append(grid);
    const cap = (v) => (v == null ? "-" : String(v));
    out.append(listTable("Each rep's load against their caps", [
      { title: "Rep", value: (p) => p.name },
      { title: "Caps (open / a day)", value: (p) => cap(p.max_open_leads) + " / " + cap(p.daily_cap) },
      { title: "Now: assigned, busiest day, passed over at a cap", value: (p) =>
        p.current.assigned + ", " + p.current.busiest_day + ", " + p.current.capped },
      { title: "Candidate", value: (p) => {
        const over = (p.max_open_leads != null && p.candidate.assigned >= p.max_open_leads) ||
          (p.daily_cap != null && p.candidate.busiest_day >= p.daily_cap);
        return el("span", { class: over || p.candidate.capped ? "bad" : "" },
          p.candidate.assigned + ", " + p.candidate.busiest_day + ", " + p.candidate.capped +
          (over ? " (at a cap)" : ""));
      } },
    ], r.reps, { class: "bt-load" }));
    const ft = r.first_touch;
    out.append(el("p", { class: "note bt-first-touch" }, "First-touch deadlines set: now " +
      ft.current.deadlines + " (median " + minutes(ft.current.median_minutes) + ", longest " +
      minutes(ft.current.max_minutes) + "); candidate " + ft.candidate.deadlines + " (median " +
      minutes(ft.candidate.median_minutes) + ", longest " + minutes(ft.candidate.max_minutes) +
      ")."));
    out.append(listTable("Leads that would move", [
      { title: "Lead", value: (c) => c.lead_id },
      { title: "Qualified", value: (c) => local(c.qualified_at) },
      { title: "Changes", value: (c) => c.changed.join(", ") },
      { title: "Now", value: (c) => placement(c.current, names) },
      { title: "Candidate", value: (c) => placement(c.candidate, names) },
    ], r.changes, { class: "bt-changes" }));
    const differ = r.deadlines.filter((d) => d.current !== d.candidate);
    out.append(listTable("First-touch deadlines that differ", [
      { title: "Lead", value: (d) => d.lead_id },
      { title: "Qualified", value: (d) => local(d.qualified_at) },
      { title: "Now", value: (d) => local(d.current) },
      { title: "Candidate", value: (d) => local(d.candidate) },
    ], differ, { class: "bt-deadlines" }));
  }

  function verdict(v) {
    const box = el("div", { class: "placement" });
    box.append(el("strong", {}, v.outcome + ": " + v.stage + ", " + v.lifecycle + ", " + v.term +
      ", score " + v.score));
    const why = v.reasons.concat(v.disqualifiers.map((d) => "disqualified: " + d));
    if (why.length) { box.append(el("div", { class: "note" }, why.join("; "))); }
    return box;
  }

  // The qualifier's comparison: leads per outcome, stage, lifecycle and term, and the leads
  // that would change with both explanations.
  function renderQualifier(job, out) {
    const r = job.result;
    out.replaceChildren();
    out.dataset.leads = String(r.leads);
    out.dataset.changed = String(r.changed);
    out.append(el("p", { class: "bt-summary" }, leads(r.leads) + " decided from " +
      local(job.since) + " to " + local(job.until) + " (definitions " +
      r.definition_versions.current + " now, " + r.definition_versions.candidate +
      " candidate); " + r.changed + " would be decided differently."));
    const grid = el("div", { class: "bt-grid" });
    grid.append(sideTable("Outcome", r.outcomes), sideTable("Stage", r.stages,
      { class: "bt-stages" }), sideTable("Lifecycle", r.lifecycles), sideTable("Term", r.terms));
    out.append(grid);
    out.append(listTable("Leads that would change", [
      { title: "Lead", value: (c) => c.lead_id },
      { title: "Decided", value: (c) => local(c.decided_at) },
      { title: "Changes", value: (c) => c.changed.join(", ") },
      { title: "Now", value: (c) => verdict(c.current) },
      { title: "Candidate", value: (c) => verdict(c.candidate) },
    ], r.changes, { class: "bt-changes" }));
  }

  return { windowFields: windowFields, run: run, progressText: progressText,
    renderRouter: renderRouter, renderQualifier: renderQualifier, local: local };
})();
