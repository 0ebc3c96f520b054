// The console's editor of rule conditions: AND/OR groups (nested) of tests, each a lead
// field, an operator and a value (router/conditions.py says what they mean). Every node
// carries `data-field` with its path as the router names it (`conditions.any.1.all.0`,
// and `.field`, `.op`, `.value` on its inputs), so a problem the API answers is shown at
// the condition it names by the console's usual placement (the longest matching path).
// Named conditions (the router's first form: countries, employees_min, ...) convert to a
// group with the same meaning.
"use strict";
window.LeadfarmConditions = (function () {
  // The lead's fields a test may name (contracts.events.LeadProfile) and the score; answers
  // and UTM values are named by their key. Suggestions only: the router validates.
  const FIELDS = ["country", "region", "language", "industry", "employees", "company",
    "company_domain", "job_title", "email", "source", "source_class", "provider", "campaign",
    "product_interest", "timeframe_days", "asked_to_be_contacted", "has_budget", "need",
    "flags", "is_test", "consent_email", "sourced_by_rep_id", "first_name", "last_name",
    "full_name", "phone", "score", "answers.", "utm.utm_source", "utm.utm_medium",
    "utm.utm_campaign", "utm.utm_term", "utm.utm_content"];
  const NUMBERS = new Set(["employees", "timeframe_days", "score"]);
  const BOOLEANS = new Set(["asked_to_be_contacted", "has_budget", "is_test", "consent_email"]);
  const OPS = [["equals", "equals"], ["not_equals", "does not equal"], ["in", "in"],
    ["not_in", "not in"], ["contains", "contains"], ["not_contains", "does not contain"],
    ["starts_with", "starts with"], ["not_starts_with", "does not start with"],
    ["greater_than", "greater than"], ["greater_or_equal", "at least"],
    ["less_than", "less than"], ["less_or_equal", "at most"], ["exists", "exists"],
    ["not_exists", "does not exist"]];
  const WORDS = Object.fromEntries(OPS);
  const LISTS = new Set(["in", "not_in"]);
  const NO_VALUE = new Set(["exists", "not_exists"]);
  const ORDERING = new Set(["greater_than", "greater_or_equal", "less_than", "less_or_equal"]);
  const NAMED = ["countries", "regions", "industries", "source_classes", "product_interest",
    "languages", "employees_min", "employees_max", "score_min", "score_max"];

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) { node.setAttribute(k, v === true ? "" : v); }
    }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function isGroup(c) { return Boolean(c && (c.all || c.any)); }
  function isNamed(c) { return Boolean(c) && NAMED.some((k) => c[k] !== undefined && c[k] !== null); }

  // Named conditions as one `all` group of tests meaning the same (rules.py's match_named):
  // a list is "in"; a range is "at least" and "at most"; a language also matches its
  // regional forms (de matches de-AT).
  function fromNamed(c) {
    const tests = [];
    const pairs = [["countries", "country"], ["regions", "region"], ["industries", "industry"],
      ["source_classes", "source_class"], ["product_interest", "product_interest"]];
    for (const [name, field] of pairs) {
      if (c[name]) { tests.push({ field: field, op: "in", value: c[name].slice() }); }
    }
    if (c.languages) {
      tests.push({ any: [{ field: "language", op: "in", value: c.languages.slice() },
        ...c.languages.map((l) => ({ field: "language", op: "starts_with", value: l + "-" }))] });
    }
    for (const [field, low, high] of [["employees", "employees_min", "employees_max"],
      ["score", "score_min", "score_max"]]) {
      if (c[low] != null) { tests.push({ field: field, op: "greater_or_equal", value: c[low] }); }
      if (c[high] != null) { tests.push({ field: field, op: "less_or_equal", value: c[high] }); }
    }
    return tests.length ? { all: tests } : {};
  }

  function show(value) {
    if (Array.isArray(value)) { return "[" + value.map(show).join(", ") + "]"; }
    return typeof value === "string" ? "'" + value + "'" : String(value);
  }

  // A group or test in words: "(country in ['DE'] or employees at least 200)".
  function words(c, top) {
    if (isGroup(c)) {
      const kind = c.all ? "all" : "any";
      const inner = c[kind].map((m) => words(m, false)).join(kind === "all" ? " and " : " or ");
      return top || c[kind].length === 1 ? inner : "(" + inner + ")";
    }
    return c.field + " " + (WORDS[c.op] || c.op) + (NO_VALUE.has(c.op) ? "" : " " + show(c.value));
  }

  // The value typed for a test, as the router takes it: a list for in/not_in, a number for
  // an ordering operator or a number field, true/false for a yes-or-no field.
  function parseValue(field, op, text) {
    if (NO_VALUE.has(op)) { return null; }
    const one = (t) => {
      const s = t.trim();
      if (BOOLEANS.has(field) && (s === "true" || s === "false")) { return s === "true"; }
      if ((NUMBERS.has(field) || ORDERING.has(op)) && s !== "" && !isNaN(Number(s))) {
        return Number(s);
      }
      return s;
    };
    if (LISTS.has(op)) { return text.split(",").map((t) => t.trim()).filter(Boolean).map(one); }
    return one(text);
  }

  function valueText(value) {
    if (value === null || value === undefined) { return ""; }
    return Array.isArray(value) ? value.join(", ") : String(value);
  }

  // The editor: a tree of groups and tests in `root`; `read()` answers the conditions.
  function editor(root) {
    function testNode(test, path) {
      const node = el("div", { class: "cond-test", "data-field": path });
      const field = el("input", { class: "c-field", list: "condition-fields", value: test.field || "",
        placeholder: "field", spellcheck: "false", "aria-label": "field" });
      const op = el("select", { class: "c-op", "aria-label": "operator" });
      for (const [value, label] of OPS) { op.append(el("option", { value: value }, label)); }
      op.value = test.op || "equals";
      const value = el("input", { class: "c-value", value: valueText(test.value),
        placeholder: "value", "aria-label": "value" });
      const sync = () => {
        value.hidden = NO_VALUE.has(op.value);
        value.placeholder = LISTS.has(op.value) ? "values, comma separated" : "value";
      };
      op.addEventListener("change", sync);
      sync();
      const wrap = (cls, name, input) => {
        const label = el("label", { class: cls, "data-field": path + "." + name });
        label.append(input);
        return label;
      };
      const remove = el("button", { type: "button", class: "c-remove", title: "Remove" }, "×");
      remove.addEventListener("click", () => { node.remove(); renumber(); });
      node.append(wrap("c-f", "field", field), wrap("c-o", "op", op),
        wrap("c-v", "value", value), remove);
      return node;
    }

    function groupNode(group, path, top) {
      const kind = group.any ? "any" : "all";
      const node = el("div", { class: "cond-group", "data-field": path });
      const head = el("div", { class: "cond-head" });
      const select = el("select", { class: "c-kind", "aria-label": "group" });
      select.append(el("option", { value: "all" }, "All of (AND)"),
        el("option", { value: "any" }, "Any of (OR)"));
      select.value = kind;
      select.addEventListener("change", renumber);
      const members = el("div", { class: "cond-members" });
      const add = el("button", { type: "button", class: "c-add-test" }, "+ test");
      add.addEventListener("click", () => {
        members.append(testNode({ field: "", op: "equals" }, ""));
        renumber();
      });
      const addGroup = el("button", { type: "button", class: "c-add-group" }, "+ group");
      addGroup.addEventListener("click", () => {
        members.append(groupNode({ any: [{ field: "", op: "equals" }] }, "", false));
        renumber();
      });
      head.append(select, add, addGroup);
      if (!top) {
        const remove = el("button", { type: "button", class: "c-remove", title: "Remove" }, "×");
        remove.addEventListener("click", () => { node.remove(); renumber(); });
        head.append(remove);
      }
      node.append(head, members);
      for (const member of group[kind] || []) {
        members.append(isGroup(member) ? groupNode(member, "", false) : testNode(member, ""));
      }
      return node;
    }

    // Paths follow the tree as it is now (after adding, removing or switching all/any).
    function renumber() {
      const walk = (group, path) => {
        group.dataset.field = path;
        const kind = group.querySelector(":scope > .cond-head > .c-kind").value;
        const members = group.querySelector(":scope > .cond-members").children;
        [...members].forEach((m, i) => {
          const at = path + "." + kind + "." + i;
          if (m.classList.contains("cond-group")) { walk(m, at); return; }
          m.dataset.field = at;
          m.querySelector(".c-f").dataset.field = at + ".field";
          m.querySelector(".c-o").dataset.field = at + ".op";
          m.querySelector(".c-v").dataset.field = at + ".value";
        });
      };
      const top = root.querySelector(":scope > .cond-group");
      if (top) { walk(top, "conditions"); }
    }

    function readGroup(group) {
      const kind = group.querySelector(":scope > .cond-head > .c-kind").value;
      const members = [...group.querySelector(":scope > .cond-members").children].map((m) => {
        if (m.classList.contains("cond-group")) { return readGroup(m); }
        const field = m.querySelector(".c-field").value.trim();
        const op = m.querySelector(".c-op").value;
        const test = { field: field, op: op };
        const value = parseValue(field, op, m.querySelector(".c-value").value);
        if (value !== null) { test.value = value; }
        return test;
      });
      return { [kind]: members };
    }

    return {
      // Show `conditions` (a group, or none: an empty "all" group).
      load(conditions) {
        root.replaceChildren(groupNode(isGroup(conditions) ? conditions : { all: [] },
          "conditions", true));
        renumber();
      },
      // The conditions as the router takes them: {} when the group is empty (every lead).
      read() {
        const top = root.querySelector(":scope > .cond-group");
        if (!top) { return {}; }
        const group = readGroup(top);
        return (group.all || group.any).length ? group : {};
      },
    };
  }

  function datalist() {
    const list = el("datalist", { id: "condition-fields" });
    for (const f of FIELDS) { list.append(el("option", { value: f })); }
    return list;
  }

  return { editor: editor, fromNamed: fromNamed, isGroup: isGroup, isNamed: isNamed,
    words: words, datalist: datalist, parseValue: parseValue };
})();
