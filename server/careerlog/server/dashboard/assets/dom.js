// Building the page without ever parsing markup.
//
// Rule of this module (and of every script of the dashboard): text reaches the
// page only through document.createTextNode / textContent, attributes only
// through setAttribute with a fixed name. Nothing is ever parsed as HTML, so
// a goal titled "<img onerror=…>" is shown as those characters, never run.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  return node;
}

// An HTML element: h("p", {class: "note"}, "text", child, …).
export function h(tag, attrs, ...children) {
  return append(setAttributes(document.createElement(tag), attrs), children);
}

// An SVG element, same shape as h().
export function s(tag, attrs, ...children) {
  return append(setAttributes(document.createElementNS(SVG_NS, tag), attrs), children);
}

// Replace everything inside node with children.
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

// "2026-03-02" (a calendar date) → "2 Mar 2026"; ISO datetimes → date and time.
const DAY = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const MOMENT = new Intl.DateTimeFormat("en-GB", {
  day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
});

export function formatDay(iso) {
  if (!iso) return "—";
  const date = new Date(`${String(iso).slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? String(iso) : DAY.format(date);
}

// The days the API answers for (docs/api.md: date_out_of_range outside them).
export const FIRST_DAY = "1970-01-01";
export const LAST_DAY = "5999-12-31";

// A YYYY-MM-DD the API accepts (string order is date order at four-digit years).
export function validDay(text) {
  return (
    /^\d{4}-\d{2}-\d{2}$/.test(text || "") &&
    !Number.isNaN(Date.parse(text)) &&
    text >= FIRST_DAY &&
    text <= LAST_DAY
  );
}

// The local calendar day of a Date, as YYYY-MM-DD.
export function isoDay(date) {
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
}

export function formatMoment(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : MOMENT.format(date);
}

export function percent(value) {
  return `${Math.round(Number(value) || 0)}%`;
}

// "priorities_changed" → "priorities changed".
export function humanize(code) {
  return String(code ?? "").replaceAll("_", " ");
}

// A <time> element with a machine-readable datetime.
export function time(iso, text) {
  return h("time", { datetime: iso || null }, text ?? formatDay(iso));
}

// An error message, in words, announced to screen readers.
export function errorBox(error) {
  const message = error && error.name === "ApiError" ? error.message : `Something went wrong: ${error?.message || error}`;
  return h("p", { class: "error", role: "alert" }, message);
}
