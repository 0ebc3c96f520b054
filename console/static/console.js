// The revenue-operations console: reps, pools and rules, the dry run, the qualification
// definitions and the nurture tracks, read and changed through the services' own JSON APIs
// on this origin (so every change is authorised, validated and recorded as from curl).
// Plain DOM code with no framework; jsdiff (vendor/diff.min.js) draws the definitions diff.
// Problems (RFC 9457) are shown next to the field their `errors[].field` names.
"use strict";
(function () {
  const S = window.LeadfarmSignIn;
  const AuthError = S.AuthError;
  const $ = (id) => document.getElementById(id);
  const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const SVG = "http://www.w3.org/2000/svg";
  let signOut = () => {};
  let isAdmin = false;
  const NO_RULE = "default"; // the router's rule id when no rule matched
  // The pool leads go to when no rule matches: LEADFARM_ROUTER_DEFAULT_POOL's default (the
  // setting is not exposed by the API).
  const state = { reps: [], teams: [], rules: [], pools: [], defaultPool: "everyone",
    definitions: null, tracks: [], track: null };

  // --- talking to the APIs --------------------------------------------------------------

  // A problem answered by an API: its detail, and `errors` naming fields.
  class ApiError extends Error {
    constructor(status, problem) {
      super(problem.detail || problem.title || ("HTTP " + status));
      this.status = status;
      this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    }
  }

  async function api(method, path, body) {
    const init = { method: method, cache: "no-store",
      headers: S.headers({ "Accept": "application/json" }) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401) { throw new AuthError(await S.refusal(response, "console")); }
    if (response.status === 204) { return null; }
    let data = null;
    try { data = await response.json(); } catch (e) { data = { detail: response.statusText }; }
    if (!response.ok) { throw new ApiError(response.status, data || {}); }
    return data;
  }

  // A change: made through the API, then written in this tab's list of changes.
  async function change(method, path, body, what) {
    const answer = await api(method, path, body);
    const item = html("li");
    item.append(html("time", {}, localTime(new Date().toISOString())), " ",
      html("strong", {}, what), " ", html("code", {}, method + " " + path),
      " with key " + keyId());
    $("changes").prepend(item);
    return answer;
  }

  function keyId() {
    const parts = (S.key() || "").split("_");
    return parts.length >= 3 && parts[0] === "lf" ? parts[1] : "env-admin";
  }

  // --- small helpers ----------------------------------------------------------------------

  function html(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) {
        node.setAttribute(name, value === true ? "" : value);
      }
    }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) { node.setAttribute(name, value); }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function button(text, onClick, attrs) {
    const node = html("button", Object.assign({ type: "button" }, attrs || {}), text);
    node.addEventListener("click", onClick);
    return node;
  }

  function localTime(iso) {
    if (!iso) { return ""; }
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function words(value) { return String(value).replace(/_/g, " "); }

  function list(text) {
    return String(text || "").split(",").map((v) => v.trim()).filter(Boolean);
  }

  function numberOrNull(text) {
    const t = String(text || "").trim();
    return t === "" ? null : Number(t);
  }

  function table(id, columns, rows) {
    const node = $(id);
    const head = html("tr");
    for (const c of columns) { head.append(html("th", {}, c.title)); }
    node.replaceChildren(html("thead"), html("tbody"));
    node.tHead.append(head);
    for (const row of rows) {
      const tr = html("tr", { "data-id": row.id || row.name || "" });
      for (const c of columns) {
        const td = html("td");
        const value = c.value(row);
        if (value instanceof Node) { td.append(value); } else { td.textContent = value ?? ""; }
        tr.append(td);
      }
      node.tBodies[0].append(tr);
    }
    node.dataset.rows = String(rows.length);
  }

  function field(form, name) { return form.elements.namedItem(name); }

  // --- problems shown next to their fields ---------------------------------------------

  function clearProblems(form) {
    for (const node of form.querySelectorAll(".field-error")) { node.remove(); }
    for (const node of form.querySelectorAll(".has-error")) { node.classList.remove("has-error"); }
    const box = form.querySelector(".form-error");
    if (box) { box.hidden = true; box.textContent = ""; }
  }

  // The element of `form` an error's field belongs to: the one whose data-field is the
  // longest prefix of it ("working_hours.mon.0" -> "working_hours.mon").
  function fieldElement(form, name, aliases) {
    let best = null;
    let bestLength = -1;
    const wanted = (aliases && aliases[name]) || name;
    for (const node of form.querySelectorAll("[data-field]")) {
      const own = node.dataset.field;
      if ((wanted === own || wanted.startsWith(own + ".")) && own.length > bestLength) {
        best = node;
        bestLength = own.length;
      }
    }
    return best;
  }

  function showProblem(form, error, aliases) {
    clearProblems(form);
    if (error instanceof AuthError) { return signOut(error.message); }
    const box = form.querySelector(".form-error");
    const unplaced = [];
    for (const e of (error.errors || [])) {
      const at = e.field ? fieldElement(form, e.field, aliases) : null;
      if (!at) { unplaced.push(e); continue; }
      at.classList.add("has-error");
      at.after(html("p", { class: "field-error error", "data-for": e.field },
        e.field + ": " + e.message));
    }
    if (box) {
      const placed = (error.errors || []).length - unplaced.length;
      box.textContent = placed && !unplaced.length ? "Not saved: " + error.message :
        error.message + unplaced.map((e) => " (" + (e.field || "") + ": " + e.message + ")")
          .join("");
      box.hidden = false;
    }
  }

  function status(message, isError) {
    $("status").textContent = message;
    $("status").className = isError ? "error" : "note";
  }

  function failed(error) {
    if (error instanceof AuthError) { return signOut(error.message); }
    status(error.message, true);
  }

  // --- reps ---------------------------------------------------------------------------------

  function repState(rep) {
    if (rep.suspended) {
      return "Suspended " + localTime(rep.suspended_at) + ": " + (rep.suspended_reason || "");
    }
    const now = Date.now();
    const away = (rep.out_of_office || []).find((o) =>
      Date.parse(o.start) <= now && now < Date.parse(o.end));
    if (!rep.active) { return "Inactive"; }
    if (away) { return "Out of office until " + localTime(away.end) +
      (away.reason ? " (" + away.reason + ")" : ""); }
    return "Active" + (rep.reinstated_at ? " (reinstated " + localTime(rep.reinstated_at) + ")" : "");
  }

  async function loadReps() {
    const [reps, teams] = await Promise.all([api("GET", "/router/v1/reps"),
      api("GET", "/router/v1/teams")]);
    state.reps = reps;
    state.teams = teams;
    table("reps-table", [
      { title: "Rep", value: (r) => r.name + " (" + r.id + ")" },
      { title: "Email", value: (r) => r.email },
      { title: "Team", value: (r) => r.team_id || "" },
      { title: "Time zone", value: (r) => r.time_zone },
      { title: "Hours", value: (r) => weekWords(r.working_hours) },
      { title: "Territories", value: (r) => r.territories.join(", ") },
      { title: "Languages", value: (r) => r.languages.join(", ") },
      { title: "Weight", value: (r) => String(r.weight) },
      { title: "Caps (open / a day)", value: (r) => (r.max_open_leads ?? "-") + " / " +
        (r.daily_cap ?? "-") },
      { title: "Status", value: (r) => html("span", { class: r.suspended ? "bad" : "" },
        repState(r)) },
      { title: "Changed", value: (r) => localTime(r.updated_at || r.created_at) },
      { title: "", value: (r) => {
        const box = html("span", { class: "row-actions" });
        box.append(button("Edit", () => editRep(r), { "data-action": "edit" }));
        if (r.suspended) {
          box.append(button("Reinstate", () => askReinstate(r), { "data-action": "reinstate" }));
        }
        return box;
      } },
    ], reps);
  }

  // A week in few words: neighbouring days with the same hours are joined ("mon-fri
  // 09:00-17:00; sat 10:00-14:00").
  function weekWords(hours) {
    const out = [];
    let i = 0;
    while (i < DAYS.length) {
      const spans = (hours[DAYS[i]] || []).join(", ");
      let j = i;
      while (j + 1 < DAYS.length && (hours[DAYS[j + 1]] || []).join(", ") === spans) { j++; }
      if (spans) { out.push((i === j ? DAYS[i] : DAYS[i] + "-" + DAYS[j]) + " " + spans); }
      i = j + 1;
    }
    return out.join("; ") || "none";
  }

  function hoursInputs(hours) {
    const box = $("rep-hours");
    box.replaceChildren();
    for (const day of DAYS) {
      const label = html("label", { "data-field": "working_hours." + day }, day + " ");
      label.append(html("input", { name: "hours-" + day, value: (hours[day] || []).join(", "),
        placeholder: "off" }));
      box.append(label);
    }
  }

  function oooRow(period) {
    const index = $("rep-ooo").children.length;
    const row = html("div", { class: "fields ooo", "data-field": "out_of_office." + index });
    const at = (iso) => (iso ? localTime(iso).replace(" ", "T") : "");
    const start = html("input", { type: "datetime-local", class: "ooo-start",
      value: at(period && period.start) });
    const end = html("input", { type: "datetime-local", class: "ooo-end",
      value: at(period && period.end) });
    const reason = html("input", { class: "ooo-reason", placeholder: "reason",
      value: (period && period.reason) || "" });
    const l1 = html("label", {}, "From "); l1.append(start);
    const l2 = html("label", {}, "to "); l2.append(end);
    row.append(l1, l2, reason, button("Remove", () => row.remove()));
    $("rep-ooo").append(row);
  }

  function openRepForm(rep) {
    const form = $("rep-form");
    clearProblems(form);
    form.reset();
    form.dataset.editing = rep ? rep.id : "";
    $("rep-form-title").textContent = rep ? "Edit " + rep.name : "Add a rep";
    field(form, "id").disabled = Boolean(rep);
    const team = field(form, "team_id");
    team.replaceChildren(html("option", { value: "" }, "(none)"),
      ...state.teams.map((t) => html("option", { value: t.id }, t.name)));
    const r = rep || { time_zone: "UTC", weight: 1, active: true, territories: [],
      languages: [], working_hours: { mon: ["09:00-17:00"], tue: ["09:00-17:00"],
        wed: ["09:00-17:00"], thu: ["09:00-17:00"], fri: ["09:00-17:00"] }, out_of_office: [] };
    field(form, "id").value = r.id || "";
    field(form, "name").value = r.name || "";
    field(form, "email").value = r.email || "";
    field(form, "time_zone").value = r.time_zone;
    team.value = r.team_id || "";
    field(form, "territories").value = r.territories.join(", ");
    field(form, "languages").value = r.languages.join(", ");
    field(form, "weight").value = r.weight;
    field(form, "max_open_leads").value = r.max_open_leads ?? "";
    field(form, "daily_cap").value = r.daily_cap ?? "";
    field(form, "active").checked = r.active;
    hoursInputs(r.working_hours);
    $("rep-ooo").replaceChildren();
    for (const period of r.out_of_office) { oooRow(period); }
    form.hidden = false;
    form.scrollIntoView({ block: "nearest" });
    field(form, rep ? "name" : "id").focus();
  }

  function editRep(rep) { openRepForm(rep); }

  function repBody(form) {
    const hours = {};
    for (const day of DAYS) {
      const spans = list(field(form, "hours-" + day).value);
      if (spans.length) { hours[day] = spans; }
    }
    const ooo = [...$("rep-ooo").children].map((row) => {
      const start = row.querySelector(".ooo-start").value;
      const end = row.querySelector(".ooo-end").value;
      return { start: start ? new Date(start).toISOString() : "",
        end: end ? new Date(end).toISOString() : "",
        reason: row.querySelector(".ooo-reason").value.trim() || null };
    });
    return {
      name: field(form, "name").value.trim(),
      email: field(form, "email").value.trim(),
      time_zone: field(form, "time_zone").value.trim(),
      team_id: field(form, "team_id").value || null,
      territories: list(field(form, "territories").value),
      languages: list(field(form, "languages").value),
      weight: numberOrNull(field(form, "weight").value) ?? 1,
      max_open_leads: numberOrNull(field(form, "max_open_leads").value),
      daily_cap: numberOrNull(field(form, "daily_cap").value),
      active: field(form, "active").checked,
      working_hours: hours,
      out_of_office: ooo,
    };
  }

  async function saveRep(event) {
    event.preventDefault();
    const form = $("rep-form");
    const body = repBody(form);
    const editing = form.dataset.editing;
    try {
      if (editing) {
        await change("PATCH", "/router/v1/reps/" + encodeURIComponent(editing), body,
          "Changed rep " + editing);
      } else {
        const id = field(form, "id").value.trim();
        if (id) { body.id = id; }
        const made = await change("POST", "/router/v1/reps", body, "Added rep " + body.name);
        form.dataset.saved = made.id;
      }
      clearProblems(form);
      form.hidden = true;
      await loadReps();
      status("Saved.");
    } catch (error) {
      showProblem(form, error);
    }
  }

  function askReinstate(rep) {
    const form = $("reinstate-form");
    clearProblems(form);
    form.reset();
    form.dataset.rep = rep.id;
    $("reinstate-who").textContent = rep.name;
    $("reinstate-why").textContent = "Suspended " + localTime(rep.suspended_at) + ": " +
      (rep.suspended_reason || "no reason recorded");
    form.hidden = false;
    field(form, "reason").focus();
  }

  async function reinstate(event) {
    event.preventDefault();
    const form = $("reinstate-form");
    const id = form.dataset.rep;
    try {
      await change("POST", "/router/v1/reps/" + encodeURIComponent(id) + "/reinstate",
        { reason: field(form, "reason").value.trim() || null }, "Reinstated rep " + id);
      form.hidden = true;
      await loadReps();
    } catch (error) {
      showProblem(form, error);
    }
  }

  // --- pools and rules ------------------------------------------------------------------

  const CONDITION_LISTS = ["countries", "regions", "industries", "source_classes",
    "product_interest", "languages"];
  const CONDITION_NUMBERS = ["employees_min", "employees_max", "score_min", "score_max"];

  // A rule's conditions in words.
  function conditionWords(c) {
    const out = [];
    for (const k of CONDITION_LISTS) {
      if (c[k]) { out.push(words(k) + " in " + c[k].join(", ")); }
    }
    for (const [low, high, name] of [["employees_min", "employees_max", "employees"],
      ["score_min", "score_max", "score"]]) {
      if (c[low] != null || c[high] != null) {
        out.push(name + " " + (c[low] ?? "any") + ".." + (c[high] ?? "any"));
      }
    }
    return out.length ? "if " + out.join(" and ") : "every lead";
  }

  async function loadRules() {
    const [rules, pools, reps, teams] = await Promise.all([api("GET", "/router/v1/rules"),
      api("GET", "/router/v1/pools"), api("GET", "/router/v1/reps"),
      api("GET", "/router/v1/teams")]);
    state.rules = rules;
    state.pools = pools;
    state.reps = reps;
    state.teams = teams;
    const listNode = $("rules-list");
    listNode.replaceChildren();
    rules.forEach((rule, index) => {
      const item = html("li", { "data-rule": rule.id, class: rule.enabled ? "" : "disabled" });
      const text = html("div", { class: "rule-text" });
      text.append(html("strong", {}, rule.name), " ", html("code", {}, rule.id), ": " +
        conditionWords(rule.conditions) + " → pool ", html("strong", {}, rule.pool),
        html("span", { class: "note" }, " position " + rule.position + ", changed " +
          localTime(rule.updated_at) + (rule.enabled ? "" : ", disabled")));
      const actions = html("span", { class: "row-actions" });
      actions.append(
        button("↑", () => swapRules(index, index - 1), { title: "Try earlier",
          "data-action": "up", disabled: index === 0 }),
        button("↓", () => swapRules(index, index + 1), { title: "Try later",
          "data-action": "down", disabled: index === rules.length - 1 }),
        button(rule.enabled ? "Disable" : "Enable", () => toggleRule(rule),
          { "data-action": "toggle" }),
        button("Edit", () => openRuleForm(rule), { "data-action": "edit" }));
      item.append(text, actions);
      listNode.append(item);
    });
    listNode.append(html("li", { class: "fallback" }, "Otherwise → the default pool"));
    table("pools-table", [
      { title: "Pool", value: (p) => p.name + " (" + p.id + ")" },
      { title: "Strategy", value: (p) => words(p.strategy) },
      { title: "Members", value: (p) => poolReps(p).map((r) => r.name).join(", ") },
      { title: "Teams", value: (p) => p.teams.join(", ") },
      { title: "Outside hours", value: (p) => words(p.outside_hours) },
      { title: "Matching", value: (p) => [p.match_territory ? "territory" : "",
        p.match_language ? "language" : ""].filter(Boolean).join(", ") },
      { title: "First touch (business min)", value: (p) =>
        String((p.effective_sla || {}).first_touch_minutes ?? "") },
      { title: "Changed", value: (p) => localTime(p.updated_at || p.created_at) },
      { title: "", value: (p) => button("Edit", () => openPoolForm(p),
        { "data-action": "edit" }) },
    ], pools);
    drawGraph();
  }

  function poolReps(pool) {
    if (!pool.members.length && !pool.teams.length) {
      return state.reps.filter((r) => r.active);
    }
    return state.reps.filter((r) => pool.members.includes(r.id) ||
      (r.team_id && pool.teams.includes(r.team_id)));
  }

  function ruleBody(rule, changes) {
    return Object.assign({ name: rule.name, position: rule.position,
      conditions: rule.conditions, pool: rule.pool, enabled: rule.enabled }, changes || {});
  }

  async function putRule(id, body, what) {
    return change("PUT", "/router/v1/rules/" + encodeURIComponent(id), body, what);
  }

  // Move a rule before or after its neighbour. When every position differs, the two swap
  // positions (two changes). When some are equal (ties are tried by id), swapping could
  // move other rules too, so every rule is numbered 10, 20, ... in the new order instead,
  // and only the rules whose position changes are sent.
  async function swapRules(from, to) {
    const rules = state.rules;
    if (to < 0 || to >= rules.length) { return; }
    const a = rules[from], b = rules[to];
    const strict = rules.every((r, i) => i === 0 || rules[i - 1].position < r.position);
    const order = rules.slice();
    order[from] = b;
    order[to] = a;
    const moves = strict ? [[a, b.position], [b, a.position]] :
      order.map((r, i) => [r, (i + 1) * 10]).filter(([r, p]) => r.position !== p);
    try {
      for (const [rule, position] of moves) {
        await putRule(rule.id, ruleBody(rule, { position: position }), "Moved rule " + rule.id);
      }
      await loadRules();
      status("Rule " + a.id + " now comes " + (from < to ? "after " : "before ") + b.id + ".");
    } catch (error) {
      failed(error);
      await loadRules().catch(failed);
    }
  }

  async function toggleRule(rule) {
    try {
      await putRule(rule.id, ruleBody(rule, { enabled: !rule.enabled }),
        (rule.enabled ? "Disabled" : "Enabled") + " rule " + rule.id);
      await loadRules();
    } catch (error) { failed(error); }
  }

  function openRuleForm(rule) {
    const form = $("rule-form");
    clearProblems(form);
    form.reset();
    form.dataset.editing = rule ? rule.id : "";
    $("rule-form-title").textContent = rule ? "Edit rule " + rule.id : "Add a rule";
    field(form, "rule_id").disabled = Boolean(rule);
    const pool = field(form, "pool");
    const ids = state.pools.map((p) => p.id);
    if (!ids.includes(state.defaultPool)) { ids.unshift(state.defaultPool); }
    pool.replaceChildren(...ids.map((id) => html("option", { value: id }, id)));
    const r = rule || { name: "", position: nextPosition(), conditions: {}, pool: ids[0],
      enabled: true };
    field(form, "rule_id").value = rule ? rule.id : "";
    field(form, "name").value = r.name;
    field(form, "position").value = r.position;
    pool.value = r.pool;
    field(form, "enabled").checked = r.enabled;
    for (const k of CONDITION_LISTS) { field(form, k).value = (r.conditions[k] || []).join(", "); }
    for (const k of CONDITION_NUMBERS) { field(form, k).value = r.conditions[k] ?? ""; }
    form.hidden = false;
    form.scrollIntoView({ block: "nearest" });
  }

  function nextPosition() {
    return state.rules.reduce((m, r) => Math.max(m, r.position), 0) + 10;
  }

  async function saveRule(event) {
    event.preventDefault();
    const form = $("rule-form");
    const id = form.dataset.editing || field(form, "rule_id").value.trim();
    const conditions = {};
    for (const k of CONDITION_LISTS) {
      const values = list(field(form, k).value);
      if (values.length) { conditions[k] = values; }
    }
    for (const k of CONDITION_NUMBERS) {
      const value = numberOrNull(field(form, k).value);
      if (value !== null) { conditions[k] = value; }
    }
    const body = { name: field(form, "name").value.trim() || null,
      position: numberOrNull(field(form, "position").value) ?? 100,
      conditions: conditions, pool: field(form, "pool").value,
      enabled: field(form, "enabled").checked };
    if (!id) {
      return showProblem(form, new ApiError(422, { detail: "Give the rule an id.",
        errors: [{ field: "rule_id", message: "required" }] }));
    }
    try {
      await putRule(id, body, (form.dataset.editing ? "Changed" : "Added") + " rule " + id);
      form.hidden = true;
      await loadRules();
    } catch (error) {
      showProblem(form, error);
    }
  }

  // A pool is replaced whole (PUT), so what the form does not show (the owner fallback, how
  // rep-sourced leads go, the SLA beyond the first touch) is sent back as it was.
  function openPoolForm(pool) {
    const form = $("pool-form");
    clearProblems(form);
    form.reset();
    form.dataset.editing = pool ? pool.id : "";
    $("pool-form-title").textContent = pool ? "Edit pool " + pool.id : "Add a pool";
    field(form, "pool_id").disabled = Boolean(pool);
    const p = pool || { id: "", name: "", strategy: "round_robin", outside_hours: "hold",
      members: [], teams: [], match_territory: false, match_language: false, sla: {} };
    field(form, "pool_id").value = p.id;
    field(form, "name").value = p.name;
    field(form, "strategy").value = p.strategy;
    field(form, "outside_hours").value = p.outside_hours;
    field(form, "teams").value = p.teams.join(", ");
    field(form, "first_touch_minutes").value = (p.sla || {}).first_touch_minutes ?? "";
    field(form, "match_territory").checked = p.match_territory;
    field(form, "match_language").checked = p.match_language;
    $("pool-members").replaceChildren(...state.reps.map((r) => {
      const label = html("label", { class: "check" });
      label.append(html("input", { type: "checkbox", value: r.id, class: "member",
        checked: p.members.includes(r.id) }), " " + r.name);
      return label;
    }));
    form.hidden = false;
    form.scrollIntoView({ block: "nearest" });
  }

  async function savePool(event) {
    event.preventDefault();
    const form = $("pool-form");
    const id = form.dataset.editing || field(form, "pool_id").value.trim();
    const before = state.pools.find((p) => p.id === form.dataset.editing) || {};
    if (!id) {
      return showProblem(form, new ApiError(422, { detail: "Give the pool an id.",
        errors: [{ field: "pool_id", message: "required" }] }));
    }
    const sla = Object.assign({}, before.sla || {},
      { first_touch_minutes: numberOrNull(field(form, "first_touch_minutes").value) });
    const body = {
      name: field(form, "name").value.trim() || null,
      strategy: field(form, "strategy").value,
      members: [...form.querySelectorAll("input.member:checked")].map((i) => i.value),
      teams: list(field(form, "teams").value),
      outside_hours: field(form, "outside_hours").value,
      match_territory: field(form, "match_territory").checked,
      match_language: field(form, "match_language").checked,
      sla: sla,
    };
    for (const k of ["owner_fallback", "sourced_leads"]) {
      if (before[k] !== undefined) { body[k] = before[k]; }
    }
    try {
      await change("PUT", "/router/v1/pools/" + encodeURIComponent(id), body,
        (form.dataset.editing ? "Changed" : "Added") + " pool " + id);
      form.hidden = true;
      await loadRules();
    } catch (error) {
      showProblem(form, error);
    }
  }

  // The graph: four columns (rules in order, pools, each pool's strategy, reps) joined by
  // curves. Laid out by hand: the columns are fixed, so a layered layout is a few lines.
  function drawGraph() {
    const root = $("graph");
    root.replaceChildren();
    const rules = state.rules;
    const used = new Set(rules.map((r) => r.pool));
    used.add(state.defaultPool);
    const pools = [...used].map((id) => state.pools.find((p) => p.id === id) ||
      { id: id, name: id, strategy: "round_robin", members: [], teams: [], missing: true });
    const reps = state.reps;
    const rowH = 34, colW = 230, boxW = 190, boxH = 26, top = 28;
    const rows = Math.max(rules.length + 1, pools.length, reps.length, 1);
    const width = colW * 3 + boxW + 20;
    root.setAttribute("width", String(width));
    root.setAttribute("height", String(top + rows * rowH + 10));
    root.setAttribute("viewBox", "0 0 " + width + " " + (top + rows * rowH + 10));
    ["Rules (in order)", "Pools", "Strategy", "Reps"].forEach((t, i) =>
      root.append(svg("text", { x: 10 + i * colW, y: 16, class: "col" }, t)));
    const at = {};
    const box = (key, col, row, label, cls) => {
      const x = 10 + col * colW, y = top + row * rowH;
      const g = svg("g", { class: "node " + (cls || ""), "data-node": key });
      g.append(svg("rect", { x: x, y: y, width: boxW, height: boxH, rx: 5 }));
      const text = svg("text", { x: x + 8, y: y + 17 }, label.length > 28 ?
        label.slice(0, 27) + "…" : label);
      text.append(svg("title", {}, label));
      g.append(text);
      root.append(g);
      at[key] = { x: x, y: y + boxH / 2 };
    };
    const edge = (from, to, cls) => {
      const a = at[from], b = at[to];
      if (!a || !b) { return; }
      const x1 = a.x + boxW, x2 = b.x, mid = (x1 + x2) / 2;
      root.insertBefore(svg("path", { d: "M" + x1 + "," + a.y + " C" + mid + "," + a.y + " " +
        mid + "," + b.y + " " + x2 + "," + b.y, class: "edge " + (cls || ""),
      "data-edge": from + ">" + to }), root.firstChild);
    };
    rules.forEach((r, i) => box("rule:" + r.id, 0, i, (i + 1) + ". " + r.name,
      r.enabled ? "rule" : "rule disabled"));
    box("rule:*", 0, rules.length, "no rule matched", "rule fallback");
    pools.forEach((p, i) => {
      box("pool:" + p.id, 1, i, p.name + (p.missing ? " (not created)" : ""), "pool");
      box("strategy:" + p.id, 2, i, words(p.strategy), "strategy");
    });
    reps.forEach((r, i) => box("rep:" + r.id, 3, i, r.name, r.active && !r.suspended ? "rep" :
      "rep disabled"));
    rules.forEach((r) => edge("rule:" + r.id, "pool:" + r.pool, r.enabled ? "" : "disabled"));
    edge("rule:*", "pool:" + state.defaultPool, "");
    for (const p of pools) {
      edge("pool:" + p.id, "strategy:" + p.id, "");
      for (const r of poolReps(p)) { edge("strategy:" + p.id, "rep:" + r.id, ""); }
    }
  }

  // --- the dry run ---------------------------------------------------------------------

  async function loadDryRun() {
    try {
      const leads = await api("GET", "/ingest/v1/leads?limit=20");
      $("recent-leads").replaceChildren(...leads.map((l) => html("option", { value: l.id },
        [l.email, l.company].filter(Boolean).join(", "))));
    } catch (error) {
      if (error instanceof AuthError) { throw error; }
      // The list is a convenience; a lead id can still be typed.
    }
  }

  const LEAD_FIELDS = ["email", "company", "company_domain", "industry", "employees",
    "country", "region", "language", "product_interest", "source_class"];

  function pasteLead() {
    const form = $("dry-form");
    const text = $("dry-paste").value.trim();
    if (!text) { return; }
    clearProblems(form);
    let lead;
    try { lead = JSON.parse(text); } catch (e) {
      return showProblem(form, new ApiError(400, { detail: "That is not JSON: " + e.message,
        errors: [{ field: "lead", message: "not JSON: " + e.message }] }));
    }
    if (lead && lead.lead && typeof lead.lead === "object") { lead = lead.lead; }
    for (const k of LEAD_FIELDS) {
      const v = lead[k];
      if (v === undefined || v === null) { continue; }
      field(form, k).value = Array.isArray(v) ? v.join(", ") : String(v);
    }
  }

  async function dryRun(event) {
    event.preventDefault();
    const form = $("dry-form");
    const body = {};
    const id = field(form, "lead_id").value.trim();
    const score = numberOrNull(field(form, "score").value);
    if (score !== null) { body.score = score; }
    if (id) {
      body.lead_id = id;
    } else {
      const lead = {};
      for (const k of LEAD_FIELDS) {
        const v = field(form, k).value.trim();
        if (!v) { continue; }
        lead[k] = k === "employees" ? Number(v) : k === "product_interest" ? list(v) : v;
      }
      body.lead = lead;
    }
    try {
      const answer = await api("POST", "/router/v1/route:dry-run", body);
      clearProblems(form);
      showDryRun(answer);
    } catch (error) {
      $("dry-result").hidden = true;
      showProblem(form, error);
    }
  }

  function showDryRun(d) {
    const box = $("dry-result");
    const x = d.explanation || {};
    const rep = state.reps.find((r) => r.id === d.rep_id);
    box.replaceChildren(html("h2", {}, "The router would " + (d.outcome === "assign" ?
      "assign it to " + (rep ? rep.name : d.rep_id) : d.outcome === "hold" ?
        "hold it until " + localTime(d.held_until) : "put it in the fallback queue")));
    const facts = html("dl", { class: "facts" });
    const fact = (k, v) => { facts.append(html("dt", {}, k), html("dd", { "data-fact": k }, v)); };
    fact("rule", d.rule === NO_RULE ? "no rule matched: the default pool" :
      (x.rule && x.rule.name ? x.rule.name + " (" + d.rule + ")" : d.rule));
    fact("pool", d.pool);
    fact("strategy", words(d.strategy));
    fact("why", d.why);
    if (d.first_touch_due_at) { fact("first touch due", localTime(d.first_touch_due_at)); }
    box.append(facts);
    box.append(html("h3", {}, "Rules checked, in order"));
    const checked = html("ol", { class: "checked" });
    for (const c of x.rules_checked || []) {
      checked.append(html("li", { class: c.matched ? "good" : "" }, c.rule + ": " +
        (c.matched ? "matched" : "did not match (" + (c.failed || []).join("; ") + ")")));
    }
    if (!(x.rules_checked || []).length) { checked.append(html("li", {}, "no enabled rule")); }
    box.append(checked);
    box.append(html("h3", {}, "Reps considered in pool " + d.pool));
    const t = html("table", { id: "dry-considered" });
    box.append(html("div", { class: "scroll" }));
    box.lastChild.append(t);
    box.hidden = false;
    table("dry-considered", [
      { title: "Rep", value: (c) => (state.reps.find((r) => r.id === c.rep_id) || {}).name ||
        c.rep_id },
      { title: "Eligible", value: (c) => (c.eligible ? "yes" : "no") },
      { title: "Skipped because", value: (c) => c.skipped || "" },
      { title: "Detail", value: (c) => c.detail || "" },
      { title: "Open leads", value: (c) => String(c.open_leads ?? "") },
      { title: "Today", value: (c) => String(c.assigned_today ?? "") },
    ], (x.considered || []).map((c) => Object.assign({ id: c.rep_id }, c)));
    box.dataset.rule = d.rule;
    box.dataset.pool = d.pool;
    box.dataset.rep = d.rep_id || "";
  }

  // --- definitions -----------------------------------------------------------------------

  async function loadDefinitions(keepDraft) {
    const [active, history] = await Promise.all([api("GET", "/qualifier/v1/definitions"),
      api("GET", "/qualifier/v1/definitions/history")]);
    state.definitions = active;
    $("def-active").textContent = "Active: version " + active.version + " (" +
      active.description + "), changed by " + active.changed_by +
      (active.changed_at ? " on " + localTime(active.changed_at) : "") + ", from " +
      active.origin + ".";
    if (!keepDraft) { setDraft(active.yaml); }
    table("def-history", [
      { title: "Version", value: (v) => v.version + (v.active ? " (active)" : "") },
      { title: "Description", value: (v) => v.description },
      { title: "Changed by", value: (v) => v.changed_by },
      { title: "When", value: (v) => localTime(v.changed_at) },
      { title: "From", value: (v) => v.origin },
      { title: "", value: (v) => {
        const box = html("span", { class: "row-actions" });
        box.append(button("Diff", () => diffWith(v.version), { "data-action": "diff" }));
        if (!v.active) {
          box.append(button("Roll back to this", () => rollBack(v.version),
            { "data-action": "rollback" }));
        }
        return box;
      } },
    ], history.map((v) => Object.assign({ id: v.version }, v)));
  }

  function setDraft(text) {
    $("def-text").value = text;
    $("def-errors").replaceChildren();
    $("def-diff-out").hidden = true;
    gutter([]);
  }

  // Line numbers beside the text; lines with a problem are marked and say it.
  function gutter(problems) {
    const lines = $("def-text").value.split("\n").length;
    const byLine = {};
    for (const p of problems) { (byLine[p.line] = byLine[p.line] || []).push(p.message); }
    const node = $("def-gutter");
    node.replaceChildren();
    for (let n = 1; n <= lines; n++) {
      const item = html("li", { "data-line": n }, String(n));
      if (byLine[n]) {
        item.className = "line-error";
        item.title = byLine[n].join("; ");
      }
      node.append(item);
    }
    node.scrollTop = $("def-text").scrollTop;
  }

  function goToLine(line) {
    const area = $("def-text");
    const lines = area.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    area.focus();
    area.setSelectionRange(start, start + (lines[line - 1] || "").length);
    const height = parseFloat(getComputedStyle(area).lineHeight) || 18;
    area.scrollTop = Math.max(0, (line - 3) * height);
  }

  function versionLine(text) {
    const index = text.split("\n").findIndex((l) => /^version\s*:/.test(l));
    return index < 0 ? 1 : index + 1;
  }

  async function activate() {
    const text = $("def-text").value;
    const list = $("def-errors");
    list.replaceChildren();
    try {
      const stored = await change("PUT", "/qualifier/v1/definitions", { yaml: text },
        "Activated definitions");
      await loadDefinitions(false);
      status(stored.changed ? "Version " + stored.version + " is active." :
        "That text is active already; nothing changed.");
    } catch (error) {
      if (error instanceof AuthError) { return signOut(error.message); }
      const problems = (error.errors || []).map((e) => ({
        line: Number(e.line) || (e.field === "version" ? versionLine(text) : 1),
        message: (e.field && e.field !== "yaml" ? e.field + ": " : "") + e.message,
      }));
      if (!problems.length) { problems.push({ line: 0, message: error.message }); }
      gutter(problems);
      for (const p of problems) {
        const item = html("li", { class: "error", "data-line": p.line },
          (p.line ? "Line " + p.line + ": " : "") + p.message);
        if (p.line) { item.addEventListener("click", () => goToLine(p.line)); }
        list.append(item);
      }
      status("Not activated: " + error.message, true);
    }
  }

  function showDiff(before, after, label) {
    const out = $("def-diff-out");
    out.replaceChildren(html("div", { class: "diff-head" }, label));
    const CONTEXT = 3;
    let oldLine = 1, newLine = 1;
    const parts = window.Diff.diffLines(before, after);
    parts.forEach((part, index) => {
      const lines = part.value.replace(/\n$/, "").split("\n");
      const kind = part.added ? "add" : part.removed ? "del" : "same";
      // Unchanged runs keep three lines next to a change; the rest is counted.
      const keepHead = index === 0 ? 0 : CONTEXT;
      const keepTail = index === parts.length - 1 ? 0 : CONTEXT;
      lines.forEach((line, n) => {
        if (kind === "same" && n >= keepHead && n < lines.length - keepTail) {
          if (n === keepHead) {
            out.append(html("div", { class: "skip" }, "⋯ " +
              (lines.length - keepHead - keepTail) + " unchanged lines"));
          }
          oldLine++;
          newLine++;
          return;
        }
        const number = part.added ? "   +" + newLine++ : part.removed ? "-" + oldLine++ + "   " :
          oldLine++ + "/" + newLine++;
        out.append(html("div", { class: kind }, number.padEnd(9) + " " +
          (kind === "add" ? "+ " : kind === "del" ? "- " : "  ") + line));
      });
    });
    if (before === after) { out.append(html("div", { class: "same" }, "(no difference)")); }
    out.hidden = false;
  }

  async function diffWith(version) {
    try {
      const other = await api("GET", "/qualifier/v1/definitions/history/" +
        encodeURIComponent(version));
      showDiff(other.yaml, $("def-text").value, "Version " + version + " → the draft");
    } catch (error) { failed(error); }
  }

  async function rollBack(version) {
    try {
      const old = await api("GET", "/qualifier/v1/definitions/history/" +
        encodeURIComponent(version));
      const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
      const renamed = old.yaml.replace(/^version\s*:.*$/m,
        "version: \"" + version + "-restored-" + stamp + "\"");
      setDraft(renamed);
      showDiff(state.definitions.yaml, renamed, "The active version → " + version +
        " restored (review, then Activate)");
      status("Version " + version + " is in the editor under a new version name; " +
        "Activate to roll back.");
    } catch (error) { failed(error); }
  }

  // --- nurture ------------------------------------------------------------------------------

  async function loadTracks() {
    const tracks = await api("GET", "/nurture/v1/tracks");
    state.tracks = tracks;
    table("tracks-table", [
      { title: "Track", value: (t) => t.name + " (" + t.id + ")" },
      { title: "Priority", value: (t) => String(t.priority) },
      { title: "For", value: (t) => (t.when.triggers || []).map(words).join(", ") || "any" },
      { title: "Steps", value: (t) => String(t.schedule.length) },
      { title: "Active", value: (t) => (t.active ? "yes" : "no") },
      { title: "From", value: (t) => t.origin + (t.origin === "api" ? ", change " + t.version :
        "") },
      { title: "", value: (t) => button("Open", () => openTrack(t.id), { "data-action": "open" }) },
    ], tracks);
    if (state.track) {
      const still = tracks.find((t) => t.id === state.track.id);
      if (still) { await openTrack(still.id); }
    }
  }

  async function openTrack(id) {
    const [track, stats] = await Promise.all([
      api("GET", "/nurture/v1/tracks/" + encodeURIComponent(id)),
      api("GET", "/nurture/v1/tracks/" + encodeURIComponent(id) + "/stats").catch((e) => {
        if (e instanceof ApiError && e.status === 404) { return null; }
        throw e;
      })]);
    state.track = track;
    $("track-view").hidden = false;
    $("track-view").dataset.track = id;
    $("track-title").textContent = track.name + " (" + id + ")";
    const s = stats || { enrolled: 0, active: 0, completed: 0, recycled: 0, exited: 0,
      emails_sent: 0, steps: [] };
    $("track-totals").textContent = s.enrolled + " enrolled: " + s.active + " active, " +
      s.completed + " completed, " + s.recycled + " recycled, " + s.exited + " exited; " +
      s.emails_sent + " emails sent.";
    drawTimeline(track, s.steps || []);
    const form = $("track-form");
    clearProblems(form);
    field(form, "name").value = track.name;
    field(form, "priority").value = track.priority;
    field(form, "active").checked = track.active;
    $("track-steps").replaceChildren();
    for (const step of track.steps) { stepRow(step); }
    $("track-repeat").textContent = track.repeat ? "Then every " + track.repeat.every_days +
      " days until day " + track.repeat.until_day + ": " + track.repeat.steps.map((r) =>
      r.action + (r.template ? " " + r.template : "")).join(", then ") +
      " (kept as it is; change it through PUT /nurture/v1/tracks/" + track.id + ")." : "";
  }

  // The schedule on a time line: a mark per step, in order and evenly spaced (a repeat
  // can run for years, so days to scale would crowd the first weeks), each with its day,
  // what it does, and how many enrolments had it (reached) and wait for it (waiting).
  function drawTimeline(track, counts) {
    const root = $("timeline");
    root.replaceChildren();
    const steps = track.schedule;
    const spacing = 120, left = 70, height = 150;
    const width = Math.max(640, left * 2 + (steps.length - 1) * spacing);
    root.setAttribute("width", String(width));
    root.setAttribute("height", String(height));
    root.setAttribute("viewBox", "0 0 " + width + " " + height);
    root.append(svg("line", { x1: left, y1: 62, x2: left + (steps.length - 1) * spacing,
      y2: 62, class: "axis" }));
    const byNumber = Object.fromEntries(counts.map((c) => [c.number, c]));
    steps.forEach((step, i) => {
      const cx = left + i * spacing;
      const g = svg("g", { class: "step", "data-step": step.number });
      const c = byNumber[step.number] || { reached: 0, waiting: 0 };
      g.append(svg("text", { x: cx, y: 22, "text-anchor": "middle", class: "count",
        "data-reached": c.reached, "data-waiting": c.waiting }, c.reached + " had it"));
      g.append(svg("text", { x: cx, y: 38, "text-anchor": "middle", class: "count" },
        c.waiting + " waiting"));
      g.append(svg("circle", { cx: cx, cy: 62, r: 7, class: step.action }));
      g.append(svg("text", { x: cx, y: 88, "text-anchor": "middle" },
        "day " + step.day + ": " + step.action));
      const what = step.template || step.task || "";
      const label = svg("text", { x: cx, y: 104, "text-anchor": "middle", class: "sub" },
        what.length > 18 ? what.slice(0, 17) + "…" : what);
      label.append(svg("title", {}, what));
      g.append(label);
      if (i > track.steps.length - 1) {
        g.append(svg("text", { x: cx, y: 120, "text-anchor": "middle", class: "sub" },
          "(repeat)"));
      }
      root.append(g);
    });
  }

  function stepRow(step) {
    const index = $("track-steps").children.length;
    const row = html("div", { class: "fields step-row", "data-field": "steps." + index });
    const add = (name, label, input) => {
      const l = html("label", { "data-field": "steps." + index + "." + name }, label + " ");
      l.append(input);
      row.append(l);
    };
    add("day", "Day", html("input", { class: "s-day", type: "number", min: 0,
      value: step ? step.day : 0 }));
    const action = html("select", { class: "s-action" });
    for (const a of ["email", "task", "wait"]) { action.append(html("option", { value: a }, a)); }
    action.value = step ? step.action : "email";
    add("action", "Action", action);
    add("template", "Template", html("input", { class: "s-template",
      value: (step && step.template) || "" }));
    add("task", "Task", html("input", { class: "s-task", value: (step && step.task) || "" }));
    row.append(button("Remove", () => row.remove()));
    $("track-steps").append(row);
  }

  async function saveTrack(event) {
    event.preventDefault();
    const form = $("track-form");
    const track = state.track;
    const steps = [...$("track-steps").children].map((row) => {
      const step = { day: numberOrNull(row.querySelector(".s-day").value) ?? 0,
        action: row.querySelector(".s-action").value };
      const template = row.querySelector(".s-template").value.trim();
      const task = row.querySelector(".s-task").value.trim();
      if (template) { step.template = template; }
      if (task) { step.task = task; }
      const before = track.steps.find((s) => s.day === step.day && s.action === step.action);
      if (before && before.note) { step.note = before.note; }
      return step;
    });
    // Everything the form does not show is sent back as it was.
    const body = {};
    for (const k of ["name", "description", "active", "priority", "when",
      "legitimate_interest", "recycle_threshold", "calendar", "repeat", "steps"]) {
      if (track[k] !== undefined && track[k] !== null) { body[k] = track[k]; }
    }
    Object.assign(body, { name: field(form, "name").value.trim(),
      priority: numberOrNull(field(form, "priority").value) ?? 0,
      active: field(form, "active").checked, steps: steps });
    try {
      await change("PUT", "/nurture/v1/tracks/" + encodeURIComponent(track.id), body,
        "Changed track " + track.id);
      await loadTracks();
      status("Track " + track.id + " saved.");
    } catch (error) {
      showProblem(form, error);
    }
  }

  // --- keys and sources (admin) -----------------------------------------------------------

  async function loadAdmin() {
    const [keys, sources] = await Promise.all([api("GET", "/admin/v1/keys"),
      api("GET", "/ingest/v1/sources")]);
    table("keys-table", [
      { title: "Key", value: (k) => k.name + " (" + k.id + ")" },
      { title: "Scope", value: (k) => k.scope + (k.rep_id ? " of rep " + k.rep_id : "") },
      { title: "Created", value: (k) => localTime(k.created_at) },
      { title: "Revoked", value: (k) => localTime(k.revoked_at) },
      { title: "", value: (k) => (k.revoked_at ? "" : button("Revoke", () => revokeKey(k),
        { "data-action": "revoke" })) },
    ], keys);
    table("sources-table", [
      { title: "Source", value: (s) => s.name },
      { title: "Provider", value: (s) => s.provider },
      { title: "Class", value: (s) => words(s.source_class) },
      { title: "Campaign", value: (s) => s.campaign || "" },
      { title: "Webhook", value: (s) => s.webhook_path },
      { title: "From", value: (s) => s.origin },
      { title: "Changed", value: (s) => localTime(s.updated_at || s.created_at) },
    ], sources);
  }

  async function revokeKey(k) {
    if (!window.confirm("Revoke key " + k.name + " (" + k.id + ")? Anything using it stops.")) {
      return;
    }
    try {
      await change("DELETE", "/admin/v1/keys/" + encodeURIComponent(k.id), undefined,
        "Revoked key " + k.id);
      await loadAdmin();
    } catch (error) { failed(error); }
  }

  async function createKey(event) {
    event.preventDefault();
    const form = $("key-new");
    const body = { name: field(form, "name").value.trim(), scope: field(form, "scope").value,
      rep_id: field(form, "rep_id").value.trim() || null };
    try {
      const made = await change("POST", "/admin/v1/keys", body, "Created key " + body.name);
      clearProblems(form);
      $("key-made").textContent = "The new key (shown once, copy it now): " + made.key;
      $("key-made").hidden = false;
      form.reset();
      await loadAdmin();
    } catch (error) {
      showProblem(form, error);
    }
  }

  // --- pages -----------------------------------------------------------------------------

  const LOADERS = { reps: loadReps, rules: loadRules, "dry-run": async () => {
    await Promise.all([loadDryRun(), state.reps.length ? null :
      api("GET", "/router/v1/reps").then((r) => { state.reps = r; })]);
  }, definitions: () => loadDefinitions(false), nurture: loadTracks, admin: loadAdmin };

  async function show(name) {
    if (!S.key()) { return; }
    if (!LOADERS[name] || (name === "admin" && !isAdmin)) { name = "reps"; }
    for (const page of document.querySelectorAll(".page")) {
      page.hidden = page.id !== "page-" + name;
    }
    for (const a of document.querySelectorAll("#tabs a")) {
      a.classList.toggle("current", a.dataset.tab === name);
    }
    document.body.dataset.state = "loading";
    status("Loading...");
    try {
      await LOADERS[name]();
      document.body.dataset.page = name;
      document.body.dataset.state = "ready";
      status("Updated " + localTime(new Date().toISOString()) + ".");
    } catch (error) {
      if (error instanceof AuthError) { return signOut(error.message); }
      document.body.dataset.state = "error";
      status("Could not load: " + error.message, true);
    }
  }

  // Signed in: find out what the key may do (a manager key reads reps; only an admin key
  // lists keys), then open the page in the address's #fragment.
  async function start() {
    document.body.dataset.state = "loading";
    try {
      await api("GET", "/router/v1/reps");
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        return signOut(S.refusalText(403, error.message, "console"));
      }
      if (error instanceof AuthError) { return signOut(error.message); }
      return status("Could not reach the router: " + error.message, true);
    }
    try {
      await api("GET", "/admin/v1/keys");
      isAdmin = true;
    } catch (error) {
      isAdmin = false;
    }
    $("admin-tab").hidden = !isAdmin;
    $("who").textContent = "key " + keyId() + (isAdmin ? " (admin)" : " (manager)");
    await show((location.hash || "#reps").slice(1));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const zones = typeof Intl.supportedValuesOf === "function" ?
      Intl.supportedValuesOf("timeZone") : ["UTC"];
    $("time-zones").replaceChildren(...zones.map((z) => html("option", { value: z })));
    window.addEventListener("hashchange", () => show(location.hash.slice(1)));
    $("rep-new").addEventListener("click", () => openRepForm(null));
    $("rep-ooo-add").addEventListener("click", () => oooRow(null));
    $("rep-form").addEventListener("submit", saveRep);
    $("reinstate-form").addEventListener("submit", reinstate);
    $("rule-new").addEventListener("click", () => openRuleForm(null));
    $("rule-form").addEventListener("submit", saveRule);
    $("pool-new").addEventListener("click", () => openPoolForm(null));
    $("pool-form").addEventListener("submit", savePool);
    $("dry-form").addEventListener("submit", dryRun);
    $("dry-paste").addEventListener("change", pasteLead);
    $("dry-paste").addEventListener("paste", () => setTimeout(pasteLead, 0));
    $("def-text").addEventListener("input", () => gutter([]));
    $("def-text").addEventListener("scroll", () => {
      $("def-gutter").scrollTop = $("def-text").scrollTop;
    });
    $("def-diff").addEventListener("click", () => showDiff(state.definitions.yaml,
      $("def-text").value, "The active version " + state.definitions.version + " → the draft"));
    $("def-activate").addEventListener("click", activate);
    $("def-reset").addEventListener("click", () => setDraft(state.definitions.yaml));
    $("track-step-add").addEventListener("click", () => stepRow(null));
    $("track-form").addEventListener("submit", saveTrack);
    $("key-new").addEventListener("submit", createKey);
    for (const cancel of document.querySelectorAll("form .cancel")) {
      cancel.addEventListener("click", () => { cancel.closest("form").hidden = true; });
    }
    signOut = S.mount({ shown: ["console", "tabs"], onSignedIn: start });
  });
})();
