// How the dashboard writes numbers, durations, money and times. Pure functions, no DOM: the
// page loads this file before app.js (as `LeadfarmFormat`), and the unit tests run it in
// Node (tests/unit/audit/test_dashboard_format.py).
"use strict";
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) { module.exports = api; }
  else { root.LeadfarmFormat = api; }
}(typeof self !== "undefined" ? self : this, function () {
  // A duration is written in the largest unit that still gives at least two of it, so six
  // seconds read "6 s" (never "0.1 min") and five hours "5 h" (never "300 min").
  const UNITS = [
    { name: "seconds", short: "s", seconds: 1 },
    { name: "minutes", short: "min", seconds: 60 },
    { name: "hours", short: "h", seconds: 3600 },
    { name: "days", short: "d", seconds: 86400 },
  ];

  function missing(value) { return value === null || value === undefined || Number.isNaN(value); }

  // The unit for a set of durations (an axis), chosen by the largest of them.
  function durationUnit(maxSeconds) {
    let chosen = UNITS[0];
    for (const unit of UNITS) {
      if (!missing(maxSeconds) && maxSeconds >= 2 * unit.seconds) { chosen = unit; }
    }
    return chosen;
  }

  // Under 10 with one decimal (a trailing .0 dropped), else whole.
  function number(value) {
    if (missing(value)) { return ""; }
    const digits = Math.abs(value) < 10 && !Number.isInteger(value) ? 1 : 0;
    return value.toLocaleString("en-US", { maximumFractionDigits: digits });
  }

  // One duration, in the unit that fits it: "6 s", "4.5 min", "2 h", "3.2 d".
  function duration(seconds) {
    if (missing(seconds)) { return ""; }
    const unit = durationUnit(seconds);
    return number(seconds / unit.seconds) + " " + unit.short;
  }

  // An axis tick: as many decimals as the step between ticks needs (at most 3), so ticks
  // never repeat ("0, 0.0, 0.0, 0.1") and never trail noise ("0.30000000000000004").
  function tick(value, step, suffix) {
    const decimals = step > 0 ? Math.min(3, Math.max(0, -Math.floor(Math.log10(step) + 1e-9))) : 0;
    const text = value.toLocaleString("en-US", {
      minimumFractionDigits: decimals, maximumFractionDigits: decimals,
    });
    return suffix ? text + " " + suffix : text;
  }

  function count(value) {
    return missing(value) ? "" : Math.round(value).toLocaleString("en-US");
  }

  function percent(share) {
    return missing(share) ? "" : Math.round(share * 100) + "%";
  }

  // Money with its currency: "$12,000", "€900"; compact for axes: "$12K".
  function money(value, currency, compact) {
    if (missing(value) || value === "") { return ""; }
    const options = { style: "currency", currency: currency, maximumFractionDigits: 0 };
    if (compact) { Object.assign(options, { notation: "compact", minimumFractionDigits: 0, maximumFractionDigits: 1 }); }
    return Number(value).toLocaleString("en-US", options);
  }

  // A moment in a time zone, labelled with it: "2026-03-02 10:04:05 GMT+1".
  function localTime(iso, timeZone) {
    if (!iso) { return ""; }
    const moment = new Date(iso);
    if (Number.isNaN(moment.getTime())) { return String(iso); }
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short",
    }).formatToParts(moment).map((p) => [p.type, p.value]));
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" +
      parts.minute + ":" + parts.second + " " + parts.timeZoneName;
  }

  // A label broken into lines of about `width` characters, at spaces (an axis shows every
  // label this way instead of skipping some).
  function lines(text, width) {
    const out = [];
    for (const word of String(text).split(" ")) {
      const last = out.length - 1;
      if (last >= 0 && (out[last] + " " + word).length <= width) { out[last] += " " + word; }
      else { out.push(word); }
    }
    return out;
  }

  return { UNITS, durationUnit, duration, tick, count, percent, money, localTime, number, lines };
}));
