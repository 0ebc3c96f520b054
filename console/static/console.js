// The revenue-operations console: reps, pools and rules, the dry run, the qualification
// definitions and the nurture tracks, read and changed through the services' own JSON APIs
// on this origin (so every change is authorised, validated and recorded as from curl).
// Plain DOM code with no framework; jsdiff (vendor/diff.min.js) draws the definitions diff.
// Problems (RFC 9457) are shown next to the field their `errors[].field` names.
"use strict";
(function () {
  const S = window.LeadfarmSignIn;
  const Conditions = window.LeadfarmConditions;
  const Backtest = window.LeadfarmBacktest;
  const AuthError = S.AuthError;
  const $ = (id) => document.getElementById(id);
  const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const SVG = "http://www.w3.org/2000/svg";
  let signOut = () => {};
  let isAdmin = false;
  const NO_RULE = "default"; // the router's rule id when no rule matched
  // The connector kinds (docs/integrations.md): what a rep's id in each is called, and the
  // credentials each takes (write-only here: the API only ever answers "set").
  const CRM_KINDS = {
    hubspot: { title: "HubSpot", rep: "HubSpot owner id",
      credentials: ["access_token", "client_secret"] },
    salesforce: { title: "Salesforce", rep: "Salesforce user id",
      credentials: ["client_id", "client_secret", "private_key", "webhook_secret"] },
    slack: { title: "Slack", rep: "Slack member id",
      credentials: ["bot_token", "webhook_url", "manager_webhook_url"] },
    webhook: { title: "Signed activity webhook", rep: "Dialer or sequencer user id",
      credentials: ["secret"] },
  };
  // The pool leads go to when no rule matches: LEADFARM_ROUTER_DEFAULT_POOL's default (the
  // setting is not exposed by the API).
  const state = { reps: [], teams: [], rules: [], pools: [], defaultPool: "everyone",
    definitions: null, tracks: [], track: null,
    // Rules and pools changed in this tab and not live yet (bodies as PUT takes them), and
    // the draft a finished backtest tested (Activate is open while it is the same).
    draft: { rules: {}, pools: {} }, draftTested: null, defTested: null,
    rulesWindow: null, defWindow: null, view: [] };

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

  function who(changedBy) {
    if (!changedBy) { return ""; }
    return changedBy.name || changedBy.key_id;
  }

  function repState(rep) {
    if (rep.suspended) {
      return "Suspended " + localTime(rep.suspended_at) + " by " +
        (rep.suspended_by ? who(rep.suspended_by) : "the router (SLA compliance)") + ": " +
        (rep.suspended_reason || "");
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
      { title: "CRM ids", value: (r) => Object.entries(r.crm_owner_ids || {})
        .map(([kind, id]) => kind + " " + id).join(", ") },
      { title: "Status", value: (r) => html("span", { class: r.suspended ? "bad" : "" },
        repState(r)) },
      { title: "Changed", value: (r) => localTime(r.updated_at || r.created_at) +
        (r.changed_by ? " by " + who(r.changed_by) : "") },
      { title: "", value: (r) => {
        const box = html("span", { class: "row-actions" });
        box.append(button("Edit", () => editRep(r), { "data-action": "edit" }));
        if (r.suspended) {
          box.append(button("Reinstate", () => askReinstate(r), { "data-action": "reinstate" }));
        } else {
          box.append(button("Suspend", () => askSuspend(r), { "data-action": "suspend" }));
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
    crmInputs(r.crm_owner_ids || {});
    form.hidden = false;
    form.scrollIntoView({ block: "nearest" });
    field(form, rep ? "name" : "id").focus();
  }

  function editRep(rep) { openRepForm(rep); }

  // A rep's id in each CRM or tool Leadfarm has a connector kind for (and any other the
  // rep already has), one input each; an empty one is left out of `crm_owner_ids`.
  function crmInputs(ids) {
    const box = $("rep-crm-ids");
    box.replaceChildren();
    for (const kind of new Set([...Object.keys(CRM_KINDS), ...Object.keys(ids)])) {
      const label = html("label", { "data-field": "crm_owner_ids." + kind },
        (CRM_KINDS[kind] ? CRM_KINDS[kind].rep : kind) + " ");
      label.append(html("input", { name: "crm-" + kind, "data-kind": kind,
        value: ids[kind] || "", spellcheck: "false" }));
      box.append(label);
    }
  }

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
    const crm = {};
    for (const input of $("rep-crm-ids").querySelectorAll("input[data-kind]")) {
      if (input.value.trim()) { crm[input.dataset.kind] = input.value.trim(); }
    }
    return {
      crm_owner_ids: crm,
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

  function askSuspend(rep) {
    const form = $("suspend-form");
    clearProblems(form);
    form.reset();
    form.dataset.rep = rep.id;
    $("suspend-who").textContent = rep.name;
    form.hidden = false;
    field(form, "reason").focus();
  }

  async function suspend(event) {
    event.preventDefault();
    const form = $("suspend-form");
    const id = form.dataset.rep;
    try {
      await change("POST", "/router/v1/reps/" + encodeURIComponent(id) + "/suspend",
        { reason: field(form, "reason").value }, "Suspended rep " + id);
      form.hidden = true;
      await loadReps();
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
  //
  // Changes to rules and pools are a draft (state.draft: the bodies PUT would send) until
  // a backtest of that very draft is done and the manager activates it. The list, the pools
  // table and the graph show the rules and pools as they would be, drafts marked.

  const CONDITION_LISTS = ["countries", "regions", "industries", "source_classes",
    "product_interest", "languages"];
  const CONDITION_NUMBERS = ["employees_min", "employees_max", "score_min", "score_max"];
  let conditionEditor = null;

  // A rule's conditions in words.
  function conditionWords(c) {
    if (Conditions.isGroup(c)) { return "if " + Conditions.words(c, true); }
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

  function byPosition(a, b) {
    return a.position - b.position || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  // The rules as they would be with the draft: live ones overlaid, new ones added.
  function effectiveRules() {
    const byId = {};
    for (const r of state.rules) { byId[r.id] = r; }
    for (const [id, body] of Object.entries(state.draft.rules)) {
      byId[id] = Object.assign({}, byId[id] || {}, body, { id: id, name: body.name || id,
        draft: true });
    }
    return Object.values(byId).sort(byPosition);
  }

  function effectivePools() {
    const byId = {};
    for (const p of state.pools) { byId[p.id] = p; }
    for (const [id, body] of Object.entries(state.draft.pools)) {
      byId[id] = Object.assign({ effective_sla: (byId[id] || {}).effective_sla }, body,
        { id: id, name: body.name || id, draft: true });
    }
    return Object.values(byId).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async function loadRules() {
    const [rules, pools, reps, teams] = await Promise.all([api("GET", "/router/v1/rules"),
      api("GET", "/router/v1/pools"), api("GET", "/router/v1/reps"),
      api("GET", "/router/v1/teams")]);
    state.rules = rules;
    state.pools = pools;
    state.reps = reps;
    state.teams = teams;
    showRules();
    await Promise.all([loadConfigHistory(), loadKept("router")]);
  }

  function changedWords(x) {
    return x.version ? "version " + x.version + ", " + localTime(x.updated_at) + " by " +
      who(x.changed_by) : "changed " + localTime(x.updated_at || x.created_at);
  }

  function showRules() {
    const rules = effectiveRules();
    state.view = rules;
    const listNode = $("rules-list");
    listNode.replaceChildren();
    rules.forEach((rule, index) => {
      const item = html("li", { "data-rule": rule.id, class: (rule.enabled ? "" : "disabled") +
        (rule.draft ? " draft" : "") });
      const text = html("div", { class: "rule-text" });
      text.append(html("strong", {}, rule.name), " ", html("code", {}, rule.id), ": " +
        conditionWords(rule.conditions) + " → pool ", html("strong", {}, rule.pool),
        html("span", { class: "note" }, " position " + rule.position + ", " +
          (rule.draft ? "not live yet" : changedWords(rule)) +
          (rule.enabled ? "" : ", disabled")));
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
      { title: "Pool", value: (p) => p.name + " (" + p.id + ")" + (p.draft ? " (not live yet)" :
        "") },
      { title: "Strategy", value: (p) => words(p.strategy) },
      { title: "Members", value: (p) => poolReps(p).map((r) => r.name).join(", ") },
      { title: "Teams", value: (p) => p.teams.join(", ") },
      { title: "Outside hours", value: (p) => words(p.outside_hours) },
      { title: "Matching", value: (p) => [p.match_territory ? "territory" : "",
        p.match_language ? "language" : ""].filter(Boolean).join(", ") },
      { title: "First touch (business min)", value: (p) =>
        String((p.sla || {}).first_touch_minutes ?? (p.effective_sla || {}).first_touch_minutes ??
          "") },
      { title: "Changed", value: (p) => (p.draft ? "not live yet" : changedWords(p)) },
      { title: "", value: (p) => button("Edit", () => openPoolForm(p),
        { "data-action": "edit" }) },
    ], effectivePools());
    drawGraph();
    showDraft();
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

  function poolBody(pool) {
    const body = { name: pool.name, strategy: pool.strategy, members: pool.members,
      teams: pool.teams, outside_hours: pool.outside_hours,
      match_territory: pool.match_territory, match_language: pool.match_language,
      sla: pool.sla || {} };
    for (const k of ["owner_fallback", "sourced_leads"]) {
      if (pool[k] !== undefined) { body[k] = pool[k]; }
    }
    return body;
  }

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  // Put a rule's new body in the draft (or take it out when it is what is live).
  function draftRule(id, body) {
    const live = state.rules.find((r) => r.id === id);
    if (live && same(ruleBody(live), body)) { delete state.draft.rules[id]; } else {
      state.draft.rules[id] = body;
    }
  }

  function draftPool(id, body) {
    const live = state.pools.find((p) => p.id === id);
    if (live && same(poolBody(live), body)) { delete state.draft.pools[id]; } else {
      state.draft.pools[id] = body;
    }
  }

  function draftEmpty() {
    return !Object.keys(state.draft.rules).length && !Object.keys(state.draft.pools).length;
  }

  // What the draft changes, in words, one line each.
  function draftLines() {
    const lines = [];
    for (const [id, body] of Object.entries(state.draft.pools)) {
      const live = state.pools.find((p) => p.id === id);
      lines.push(live ? "Pool " + id + ": " + Object.keys(body).filter((k) =>
        !same(body[k], poolBody(live)[k])).join(", ") + " changed" : "New pool " + id);
    }
    for (const [id, body] of Object.entries(state.draft.rules)) {
      const live = state.rules.find((r) => r.id === id);
      if (!live) { lines.push("New rule " + id + " → pool " + body.pool); continue; }
      const parts = [];
      const was = ruleBody(live);
      for (const k of Object.keys(body)) {
        if (same(body[k], was[k])) { continue; }
        if (k === "position") { parts.push("position " + was.position + " → " + body.position); }
        else if (k === "enabled") { parts.push(body.enabled ? "enabled" : "disabled"); }
        else if (k === "pool") { parts.push("pool " + was.pool + " → " + body.pool); }
        else { parts.push(k + " changed"); }
      }
      lines.push("Rule " + id + ": " + parts.join(", "));
    }
    return lines;
  }

  function showDraft() {
    const card = $("rules-draft");
    // Shown while there are changes, or a kept backtest's comparison is on it.
    card.hidden = draftEmpty() && !$("rules-bt-out").childElementCount;
    const lines = draftLines();
    $("draft-list").replaceChildren(...(lines.length ? lines : ["No changes."]).map((l) =>
      html("li", {}, l)));
    const tested = state.draftTested !== null && state.draftTested === JSON.stringify(state.draft);
    $("rules-activate").disabled = !tested;
    $("rules-activate").title = tested ? "" : "Backtest these changes first";
    card.dataset.tested = tested ? "yes" : "no";
  }

  // Move a rule before or after its neighbour. When every position differs, the two swap
  // positions. When some are equal (ties are tried by id), swapping could move other rules
  // too, so every rule is numbered 10, 20, ... in the new order instead, and only the rules
  // whose position changes are put in the draft.
  function swapRules(from, to) {
    const rules = state.view;
    if (to < 0 || to >= rules.length) { return; }
    const a = rules[from], b = rules[to];
    const strict = rules.every((r, i) => i === 0 || rules[i - 1].position < r.position);
    const order = rules.slice();
    order[from] = b;
    order[to] = a;
    const moves = strict ? [[a, b.position], [b, a.position]] :
      order.map((r, i) => [r, (i + 1) * 10]).filter(([r, p]) => r.position !== p);
    for (const [rule, position] of moves) {
      draftRule(rule.id, ruleBody(rule, { position: position }));
    }
    showRules();
    status("Rule " + a.id + " would come " + (from < to ? "after " : "before ") + b.id +
      ": backtest, then activate.");
  }

  function toggleRule(rule) {
    draftRule(rule.id, ruleBody(rule, { enabled: !rule.enabled }));
    showRules();
  }

  function showNamed(c) {
    const form = $("rule-form");
    const named = Conditions.isNamed(c);
    $("named-conditions").hidden = !named;
    $("condition-groups").hidden = named;
    for (const k of CONDITION_LISTS) { field(form, k).value = (c[k] || []).join(", "); }
    for (const k of CONDITION_NUMBERS) { field(form, k).value = c[k] ?? ""; }
    conditionEditor.load(named ? {} : c);
  }

  function namedConditions(form) {
    const conditions = {};
    for (const k of CONDITION_LISTS) {
      const values = list(field(form, k).value);
      if (values.length) { conditions[k] = values; }
    }
    for (const k of CONDITION_NUMBERS) {
      const value = numberOrNull(field(form, k).value);
      if (value !== null) { conditions[k] = value; }
    }
    return conditions;
  }

  function openRuleForm(rule) {
    const form = $("rule-form");
    clearProblems(form);
    form.reset();
    form.dataset.editing = rule ? rule.id : "";
    $("rule-form-title").textContent = rule ? "Edit rule " + rule.id : "Add a rule";
    field(form, "rule_id").disabled = Boolean(rule);
    const pool = field(form, "pool");
    const ids = effectivePools().map((p) => p.id);
    if (!ids.includes(state.defaultPool)) { ids.unshift(state.defaultPool); }
    pool.replaceChildren(...ids.map((id) => html("option", { value: id }, id)));
    const r = rule || { name: "", position: nextPosition(), conditions: {}, pool: ids[0],
      enabled: true };
    field(form, "rule_id").value = rule ? rule.id : "";
    field(form, "name").value = r.name;
    field(form, "position").value = r.position;
    pool.value = r.pool;
    field(form, "enabled").checked = r.enabled;
    showNamed(r.conditions || {});
    form.hidden = false;
    form.scrollIntoView({ block: "nearest" });
  }

  function nextPosition() {
    return state.view.reduce((m, r) => Math.max(m, r.position), 0) + 10;
  }

  function saveRule(event) {
    event.preventDefault();
    const form = $("rule-form");
    const id = form.dataset.editing || field(form, "rule_id").value.trim();
    const conditions = $("named-conditions").hidden ? conditionEditor.read() :
      namedConditions(form);
    const name = field(form, "name").value.trim();
    const body = { name: name || id,
      position: numberOrNull(field(form, "position").value) ?? 100,
      conditions: conditions, pool: field(form, "pool").value,
      enabled: field(form, "enabled").checked };
    if (!id) {
      return showProblem(form, new ApiError(422, { detail: "Give the rule an id.",
        errors: [{ field: "rule_id", message: "required" }] }));
    }
    clearProblems(form);
    draftRule(id, body);
    form.hidden = true;
    showRules();
    status("Rule " + id + " is in the changes: backtest, then activate.");
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

  function savePool(event) {
    event.preventDefault();
    const form = $("pool-form");
    const id = form.dataset.editing || field(form, "pool_id").value.trim();
    const before = effectivePools().find((p) => p.id === form.dataset.editing) || {};
    if (!id) {
      return showProblem(form, new ApiError(422, { detail: "Give the pool an id.",
        errors: [{ field: "pool_id", message: "required" }] }));
    }
    const sla = Object.assign({}, before.sla || {},
      { first_touch_minutes: numberOrNull(field(form, "first_touch_minutes").value) });
    const body = poolBody(Object.assign({}, before, {
      name: field(form, "name").value.trim() || id,
      strategy: field(form, "strategy").value,
      members: [...form.querySelectorAll("input.member:checked")].map((i) => i.value),
      teams: list(field(form, "teams").value),
      outside_hours: field(form, "outside_hours").value,
      match_territory: field(form, "match_territory").checked,
      match_language: field(form, "match_language").checked,
      sla: sla,
    }));
    clearProblems(form);
    draftPool(id, body);
    form.hidden = true;
    showRules();
    status("Pool " + id + " is in the changes: backtest, then activate.");
  }

  // A problem with the draft, from the backtest (fields `rules.<id>.<path>`,
  // `pools.<id>.<path>`) or from a PUT of `kind` `id`: shown in that rule's or pool's form
  // at the field (a condition's path) it names; else on the draft's card.
  function draftProblem(error, kind, id) {
    if (error instanceof AuthError) { return signOut(error.message); }
    for (const e of error.errors || []) {
      const m = /^(rules|pools)\.([^.]+)\.(.+)$/.exec(e.field || "");
      const at = m ? [m[1] === "rules" ? "rule" : "pool", m[2], m[3]] :
        kind ? [kind, id, e.field] : null;
      if (!at) { continue; }
      const errors = (error.errors || []).map((x) => {
        const n = /^(rules|pools)\.([^.]+)\.(.+)$/.exec(x.field || "");
        return n ? (n[2] === at[1] ? Object.assign({}, x, { field: n[3] }) : null) : x;
      }).filter(Boolean);
      const problem = new ApiError(422, { detail: error.message, errors: errors });
      if (at[0] === "rule") {
        const rule = effectiveRules().find((r) => r.id === at[1]);
        if (rule) { openRuleForm(rule); return showProblem($("rule-form"), problem); }
      } else {
        const pool = effectivePools().find((p) => p.id === at[1]);
        if (pool) { openPoolForm(pool); return showProblem($("pool-form"), problem); }
      }
    }
    showProblem($("rules-draft"), error);
  }

  function progress(node, job) {
    node.hidden = false;
    const bar = node.querySelector("progress");
    const p = job.progress || {};
    if (p.total) { bar.max = p.total; bar.value = p.processed; } else { bar.removeAttribute("value"); }
    if (job.status !== "running") { bar.max = 1; bar.value = 1; }
    node.querySelector("span").textContent = Backtest.progressText(job);
    node.dataset.status = job.status;
  }

  function repNames() {
    return Object.fromEntries(state.reps.map((r) => [r.id, r.name]));
  }

  async function backtestDraft() {
    const card = $("rules-draft");
    clearProblems(card);
    const tested = JSON.stringify(state.draft);
    const rules = {};
    for (const r of effectiveRules()) { rules[r.id] = ruleBody(r); }
    const body = Object.assign(state.rulesWindow(), { rules: rules, pools: state.draft.pools });
    const out = $("rules-bt-out");
    out.replaceChildren();
    delete out.dataset.job;
    $("rules-backtest").disabled = true;
    try {
      const job = await Backtest.run(api, "/router/v1/backtests", body,
        (j) => progress($("rules-bt-progress"), j));
      if (job.status === "failed") { status("The backtest failed: " + job.error, true); }
      if (job.status === "done") {
        Backtest.renderRouter(job, out, repNames());
        if (tested === JSON.stringify(state.draft)) { state.draftTested = tested; }
        showDraft();
        status("Backtested: " + job.result.changed + " of " + job.result.leads +
          " leads would be routed differently. Activate when it looks right.");
        out.dataset.job = job.id;
      }
      await loadKept("router");
    } catch (error) {
      $("rules-bt-progress").hidden = true;
      draftProblem(error, null, null);
    } finally {
      $("rules-backtest").disabled = false;
      showDraft();
    }
  }

  // Save the draft through the same APIs as one change each: pools first (a new rule may
  // route to a new pool), then rules. What was saved leaves the draft; a refusal stops
  // there and is shown at its field.
  async function activateDraft() {
    if (state.draftTested !== JSON.stringify(state.draft)) { return; }
    let kind = null, id = null;
    try {
      for (const [poolId, body] of Object.entries(state.draft.pools)) {
        kind = "pool"; id = poolId;
        const live = state.pools.some((p) => p.id === poolId);
        await change("PUT", "/router/v1/pools/" + encodeURIComponent(poolId), body,
          (live ? "Changed" : "Added") + " pool " + poolId);
        delete state.draft.pools[poolId];
      }
      for (const [ruleId, body] of Object.entries(state.draft.rules)) {
        kind = "rule"; id = ruleId;
        const live = state.rules.find((r) => r.id === ruleId);
        const what = !live ? "Added" : live.position !== body.position &&
          same(ruleBody(live, { position: body.position }), body) ? "Moved" : "Changed";
        await change("PUT", "/router/v1/rules/" + encodeURIComponent(ruleId), body,
          what + " rule " + ruleId);
        delete state.draft.rules[ruleId];
      }
      state.draftTested = null;
      $("rules-bt-out").replaceChildren();
      delete $("rules-bt-out").dataset.job;
      $("rules-bt-progress").hidden = true;
      await loadRules();
      status("Activated: the next lead is routed by these rules and pools.");
    } catch (error) {
      state.draftTested = null;
      await loadRules().catch(failed);
      draftProblem(error, kind, id);
    }
  }

  function discardDraft() {
    state.draft = { rules: {}, pools: {} };
    state.draftTested = null;
    $("rules-bt-out").replaceChildren();
    delete $("rules-bt-out").dataset.job;
    $("rules-bt-progress").hidden = true;
    showRules();
  }

  // The versions of rules and pools, newest first, with who made each; a rollback restores
  // one rule or pool, or all of them, as they were right after a version.
  async function loadConfigHistory() {
    const [rules, pools] = await Promise.all([api("GET", "/router/v1/rules/history?limit=30"),
      api("GET", "/router/v1/pools/history?limit=30")]);
    const rows = rules.map((v) => Object.assign({ kind: "rule", object: v.rule_id }, v))
      .concat(pools.map((v) => Object.assign({ kind: "pool", object: v.pool_id }, v)))
      .sort((a, b) => b.version - a.version).slice(0, 30);
    table("config-history", [
      { title: "Version", value: (v) => String(v.version) },
      { title: "Change", value: (v) => v.kind + " " + v.object + " " + v.action +
        (v.restored_from ? " (restoring version " + v.restored_from + ")" : "") },
      { title: "By", value: (v) => who(v.changed_by) +
        (v.changed_by.name ? " (" + v.changed_by.key_id + ")" : "") },
      { title: "When", value: (v) => localTime(v.changed_at) },
      { title: "", value: (v) => {
        const box = html("span", { class: "row-actions" });
        box.append(button("Roll back this " + v.kind, () => rollBackConfig(v, true),
          { "data-action": "rollback-one" }),
        button("Roll back all " + v.kind + "s", () => rollBackConfig(v, false),
          { "data-action": "rollback-all" }));
        return box;
      } },
    ], rows.map((v) => Object.assign({ id: String(v.version) }, v)));
  }

  async function rollBackConfig(v, one) {
    const body = { version: v.version };
    if (one) { body[v.kind] = v.object; }
    try {
      const done = await change("POST", "/router/v1/" + v.kind + "s:rollback", body,
        "Rolled back " + (one ? v.kind + " " + v.object : "the " + v.kind + "s") +
        " to version " + v.version);
      await loadRules();
      status(done.changes.length ? "Restored as of version " + v.version + ": " +
        done.changes.length + " new version(s)." : "Nothing differed from version " +
        v.version + ".");
    } catch (error) { failed(error); }
  }

  // Kept backtests of a service, newest first; Show puts one's comparison on the page.
  async function loadKept(service) {
    const base = "/" + service + "/v1/backtests";
    const jobs = await api("GET", base);
    table(service === "router" ? "rules-backtests" : "def-backtests", [
      { title: "Started", value: (j) => localTime(j.created_at) },
      { title: "By", value: (j) => j.requested_by },
      { title: "Window", value: (j) => localTime(j.since) + " - " + localTime(j.until) },
      { title: "Status", value: (j) => Backtest.progressText(j) },
      { title: "", value: (j) => (j.status === "done" ? button("Show", () => showKept(service, j.id),
        { "data-action": "show" }) : "") },
    ], jobs);
  }

  async function showKept(service, id) {
    try {
      const job = await api("GET", "/" + service + "/v1/backtests/" + encodeURIComponent(id));
      const out = service === "router" ? $("rules-bt-out") : $("def-bt-out");
      if (service === "router") {
        Backtest.renderRouter(job, out, repNames());
        showDraft();
      } else { Backtest.renderQualifier(job, out); }
      out.dataset.job = job.id;
      out.scrollIntoView({ block: "nearest" });
    } catch (error) { failed(error); }
  }

  // The graph: four columns (rules in order, pools, each pool's strategy, reps) joined by
  // curves. Laid out by hand: the columns are fixed, so a layered layout is a few lines.
  function drawGraph() {
    const root = $("graph");
    root.replaceChildren();
    const rules = state.view;
    const known = effectivePools();
    const used = new Set(rules.map((r) => r.pool));
    used.add(state.defaultPool);
    const pools = [...used].map((id) => known.find((p) => p.id === id) ||
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
    await loadKept("qualifier");
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
    defTested();
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

  // Activate is open while the draft is the text a finished backtest tested.
  function defTested() {
    const tested = state.defTested !== null && state.defTested === $("def-text").value;
    $("def-activate").disabled = !tested;
    $("def-activate").title = tested ? "" : "Backtest this draft first";
    $("def-bt").dataset.tested = tested ? "yes" : "no";
  }

  async function backtestDefinitions() {
    const text = $("def-text").value;
    $("def-errors").replaceChildren();
    gutter([]);
    const out = $("def-bt-out");
    out.replaceChildren();
    delete out.dataset.job;
    $("def-backtest").disabled = true;
    try {
      const job = await Backtest.run(api, "/qualifier/v1/backtests",
        Object.assign(state.defWindow(), { yaml: text }),
        (j) => progress($("def-bt-progress"), j));
      if (job.status === "failed") { status("The backtest failed: " + job.error, true); }
      if (job.status === "done") {
        Backtest.renderQualifier(job, out);
        if ($("def-text").value === text) { state.defTested = text; }
        defTested();
        status("Backtested: " + job.result.changed + " of " + job.result.leads +
          " leads would be decided differently. Activate when it looks right.");
        out.dataset.job = job.id;
      }
      await loadKept("qualifier");
    } catch (error) {
      $("def-bt-progress").hidden = true;
      defProblems(error, text, "Not backtested: ");
    } finally {
      $("def-backtest").disabled = false;
      defTested();
    }
  }

  async function activate() {
    const text = $("def-text").value;
    if (state.defTested !== text) { return; }
    const list = $("def-errors");
    list.replaceChildren();
    try {
      const stored = await change("PUT", "/qualifier/v1/definitions", { yaml: text },
        "Activated definitions");
      state.defTested = null;
      $("def-bt-out").replaceChildren();
      delete $("def-bt-out").dataset.job;
      $("def-bt-progress").hidden = true;
      await loadDefinitions(false);
      status(stored.changed ? "Version " + stored.version + " is active." :
        "That text is active already; nothing changed.");
    } catch (error) {
      defProblems(error, text, "Not activated: ");
    }
  }

  // A problem with the definitions' text, marked at its lines; one with the window (since,
  // until) is listed without a line.
  function defProblems(error, text, prefix) {
    if (error instanceof AuthError) { return signOut(error.message); }
    const list = $("def-errors");
    list.replaceChildren();
    const problems = (error.errors || []).map((e) => ({
      line: ["since", "until"].includes(e.field) ? 0 :
        Number(e.line) || (e.field === "version" ? versionLine(text) : 1),
      message: (e.field && e.field !== "yaml" ? e.field + ": " : "") + e.message,
    }));
    if (!problems.length) { problems.push({ line: 0, message: error.message }); }
    gutter(problems.filter((p) => p.line));
    for (const p of problems) {
      const item = html("li", { class: "error", "data-line": p.line },
        (p.line ? "Line " + p.line + ": " : "") + p.message);
      if (p.line) { item.addEventListener("click", () => goToLine(p.line)); }
      list.append(item);
    }
    status(prefix + error.message, true);
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
      { title: "Changed", value: (t) => (t.updated_at ? localTime(t.updated_at) +
        (t.changed_by ? " by " + who(t.changed_by) : "") : "") },
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

  // --- connectors (admin) -------------------------------------------------------------------

  function connectorPath(id) { return "/router/v1/connectors/" + encodeURIComponent(id); }

  // What the table shows besides the configuration: deliveries given up (dead) and waiting
  // for a retry, and the account sync's status.
  async function connectorFacts(c) {
    const base = connectorPath(c.id);
    const [dead, pending, sync] = await Promise.all([
      api("GET", base + "/deliveries?status=dead&limit=1000"),
      api("GET", base + "/deliveries?status=pending&limit=1000"),
      api("GET", base + "/accounts-sync")]);
    return { dead: dead.length, retrying: pending.filter((d) => d.attempts > 0).length,
      sync: sync };
  }

  function atMost(n) { return n >= 1000 ? "1000+" : String(n); }

  function syncCell(s) {
    const box = html("div", { class: "sync" });
    if (!s.enabled) {
      box.append(html("span", { class: "note" }, "off"));
      return box;
    }
    const c = s.counts || {};
    box.append(html("div", {}, s.running ? "running" : s.last_finished_at ?
      "synced " + localTime(s.last_finished_at) : "not run yet"));
    if (c.read !== undefined) {
      box.append(html("div", { class: "note" }, c.read + " read, " + (c.added || 0) +
        " added, " + (c.moved || 0) + " moved, " + (c.unmatched || 0) + " unmatched"));
    }
    if (s.last_error) {
      box.append(html("div", { class: "bad" }, "failed (" + s.attempts + " in a row): " +
        s.last_error));
    }
    for (const u of s.unmatched_owners || []) {
      box.append(html("div", { class: "bad" }, "owner " + u.owner_id + " is no rep's: " +
        u.accounts + " account" + (u.accounts === 1 ? "" : "s") + " (" +
        u.domains.join(", ") + ")"));
    }
    if (s.next_run_at && !s.running) {
      box.append(html("div", { class: "note" }, "next " + localTime(s.next_run_at)));
    }
    return box;
  }

  async function loadConnectors() {
    const connectors = await api("GET", "/router/v1/connectors");
    const facts = await Promise.all(connectors.map(connectorFacts));
    const rows = connectors.map((c, i) => Object.assign({}, c, { facts: facts[i] }));
    table("connectors-table", [
      { title: "Connector", value: (c) => c.id },
      { title: "Kind", value: (c) => (CRM_KINDS[c.kind] || { title: c.kind }).title },
      { title: "Status", value: (c) => html("span", { class: c.active ? "" : "bad" },
        c.active ? "active" : "inactive") },
      { title: "Credentials", value: (c) => Object.entries(c.credentials)
        .map(([name, shown]) => name + ": " + shown).join(", ") },
      { title: "Settings", value: (c) => {
        const box = html("div", { class: "settings" });
        for (const [name, value] of Object.entries(c.settings)) {
          box.append(html("div", {}, name + ": " + (typeof value === "string" ? value :
            JSON.stringify(value))));
        }
        return box;
      } },
      { title: "Webhooks to", value: (c) => c.webhook_url_path || "" },
      { title: "Deliveries", value: (c) => html("span",
        { class: c.facts.dead ? "bad" : "", "data-dead": c.facts.dead },
        atMost(c.facts.dead) + " dead, " + atMost(c.facts.retrying) + " retrying") },
      { title: "Account sync", value: (c) => syncCell(c.facts.sync) },
      { title: "", value: (c) => {
        const box = html("span", { class: "row-actions" });
        box.append(button("Edit", () => openConnectorForm(c), { "data-action": "edit" }));
        if (c.facts.sync.enabled) {
          box.append(button("Sync accounts now", () => runSync(c), { "data-action": "sync" }));
        }
        box.append(button(c.active ? "Deactivate" : "Activate", () => setActive(c, !c.active),
          { "data-action": "toggle" }));
        box.append(button("Delete", () => deleteConnector(c), { "data-action": "delete" }));
        return box;
      } },
    ], rows);
  }

  function credentialInputs(connector) {
    const kind = field($("connector-form"), "kind").value;
    const box = $("connector-credentials");
    box.replaceChildren();
    for (const name of (CRM_KINDS[kind] || { credentials: [] }).credentials) {
      const label = html("label", { "data-field": "credentials." + name }, name + " ");
      const stored = connector && connector.credentials[name];
      const placeholder = stored ? "set (empty: keep it)" : "";
      // A PEM key has lines, which a password input drops: it gets a text area.
      label.append(name === "private_key" ?
        html("textarea", { name: "cred-" + name, "data-credential": name, rows: 3,
          spellcheck: "false", placeholder: placeholder }) :
        html("input", { name: "cred-" + name, "data-credential": name, type: "password",
          autocomplete: "new-password", spellcheck: "false", placeholder: placeholder }));
      box.append(label);
    }
  }

  function openConnectorForm(connector) {
    const form = $("connector-form");
    clearProblems(form);
    form.reset();
    form.dataset.editing = connector ? connector.id : "";
    $("connector-form-title").textContent = connector ? "Edit connector " + connector.id :
      "Add a connector";
    field(form, "connector_id").value = connector ? connector.id : "";
    field(form, "connector_id").disabled = Boolean(connector);
    // A connector's kind is fixed: the API refuses another kind under the same id.
    field(form, "kind").value = connector ? connector.kind : "hubspot";
    field(form, "kind").disabled = Boolean(connector);
    field(form, "settings").value = connector && Object.keys(connector.settings).length ?
      JSON.stringify(connector.settings, null, 2) : "";
    field(form, "active").checked = connector ? connector.active : true;
    credentialInputs(connector);
    form.hidden = false;
    form.scrollIntoView({ block: "nearest" });
    field(form, connector ? "settings" : "connector_id").focus();
  }

  async function saveConnector(event) {
    event.preventDefault();
    const form = $("connector-form");
    const editing = form.dataset.editing;
    const id = editing || field(form, "connector_id").value.trim();
    if (!id) {
      return showProblem(form, new ApiError(422, { detail: "A connector needs an id.",
        errors: [{ field: "connector_id", message: "required" }] }));
    }
    let settings = {};
    const text = field(form, "settings").value.trim();
    if (text) {
      try {
        settings = JSON.parse(text);
      } catch (e) {
        return showProblem(form, new ApiError(422, { detail: "The settings are not JSON.",
          errors: [{ field: "settings", message: "not JSON: " + e.message }] }));
      }
    }
    const credentials = {};
    for (const input of $("connector-credentials").querySelectorAll("[data-credential]")) {
      if (input.value) { credentials[input.dataset.credential] = input.value; }
    }
    const body = { kind: field(form, "kind").value, settings: settings,
      active: field(form, "active").checked };
    if (!editing || Object.keys(credentials).length) { body.credentials = credentials; }
    try {
      await change("PUT", connectorPath(id), body, (editing ? "Changed" : "Added") +
        " connector " + id);
      clearProblems(form);
      form.hidden = true;
      credentialInputs(null); // the typed secrets leave the page
      await loadConnectors();
      status("Connector " + id + " saved.");
    } catch (error) {
      showProblem(form, error);
    }
  }

  async function setActive(connector, active) {
    try {
      await change("PUT", connectorPath(connector.id), { kind: connector.kind,
        settings: connector.settings, active: active },
        (active ? "Activated" : "Deactivated") + " connector " + connector.id);
      await loadConnectors();
    } catch (error) { failed(error); }
  }

  async function deleteConnector(connector) {
    if (!window.confirm("Delete connector " + connector.id + ", its deliveries and what it " +
      "remembers of the CRM's records?")) {
      return;
    }
    try {
      await change("DELETE", connectorPath(connector.id), undefined,
        "Deleted connector " + connector.id);
      await loadConnectors();
    } catch (error) { failed(error); }
  }

  // Run the account sync now, and show its outcome once a replica has run it (the API
  // answers as the run is due; the run itself takes seconds to minutes).
  async function runSync(connector) {
    const path = connectorPath(connector.id) + "/accounts-sync";
    try {
      const due = await change("POST", path, {}, "Ran the account sync of " + connector.id);
      status("The account sync of " + connector.id + " is running...");
      for (let i = 0; i < 120; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const now = await api("GET", path);
        if (!now.running && now.last_attempt_at && now.last_attempt_at >= due.next_run_at) {
          status("The account sync of " + connector.id + (now.last_error ?
            " failed: " + now.last_error : " is done."), Boolean(now.last_error));
          break;
        }
      }
      await loadConnectors();
    } catch (error) { failed(error); }
  }

  // --- pages -----------------------------------------------------------------------------

  const LOADERS = { reps: loadReps, rules: loadRules, "dry-run": async () => {
    await Promise.all([loadDryRun(), state.reps.length ? null :
      api("GET", "/router/v1/reps").then((r) => { state.reps = r; })]);
  }, definitions: () => loadDefinitions(false), nurture: loadTracks, admin: loadAdmin,
  connectors: loadConnectors };
  const ADMIN_PAGES = ["admin", "connectors"];

  async function show(name) {
    if (!S.key()) { return; }
    if (!LOADERS[name] || (ADMIN_PAGES.includes(name) && !isAdmin)) { name = "reps"; }
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
    $("connectors-tab").hidden = !isAdmin;
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
    $("suspend-form").addEventListener("submit", suspend);
    $("rule-new").addEventListener("click", () => openRuleForm(null));
    $("rule-form").addEventListener("submit", saveRule);
    $("pool-new").addEventListener("click", () => openPoolForm(null));
    $("pool-form").addEventListener("submit", savePool);
    $("dry-form").addEventListener("submit", dryRun);
    $("dry-paste").addEventListener("change", pasteLead);
    $("dry-paste").addEventListener("paste", () => setTimeout(pasteLead, 0));
    $("def-text").addEventListener("input", () => { gutter([]); defTested(); });
    $("def-backtest").addEventListener("click", backtestDefinitions);
    $("rules-backtest").addEventListener("click", backtestDraft);
    $("rules-activate").addEventListener("click", activateDraft);
    $("rules-discard").addEventListener("click", discardDraft);
    $("conditions-convert").addEventListener("click", () => {
      const form = $("rule-form");
      clearProblems(form);
      showNamed(Conditions.fromNamed(namedConditions(form)));
    });
    document.body.append(Conditions.datalist());
    conditionEditor = Conditions.editor($("condition-groups"));
    state.rulesWindow = Backtest.windowFields($("rules-bt-window"));
    state.defWindow = Backtest.windowFields($("def-bt-window"));
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
    $("connector-new").addEventListener("click", () => openConnectorForm(null));
    $("connector-form").addEventListener("submit", saveConnector);
    field($("connector-form"), "kind").addEventListener("change", () => credentialInputs(null));
    for (const cancel of document.querySelectorAll("form .cancel")) {
      cancel.addEventListener("click", () => { cancel.closest("form").hidden = true; });
    }
    signOut = S.mount({ shown: ["console", "tabs"], onSignedIn: start });
  });
})();
