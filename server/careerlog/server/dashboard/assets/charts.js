// Charts as inline SVG, drawn from data with no library.
//
// Every chart is an <svg role="img"> with a <title> and a <desc> that says in
// words what it shows, followed by a table of the same figures (visually
// hidden unless asked for): a screen reader, a printed page or a colour-blind
// reader gets the numbers, not only the shapes. Series differ by line style
// and marker shape as well as colour, so the chart reads without colour.

import { formatDay, h, s } from "./dom.js";

const DAY_MS = 86_400_000;
let chartCount = 0;

function nextId(prefix) {
  chartCount += 1;
  return `${prefix}-${chartCount}`;
}

function dayNumber(iso) {
  return Date.parse(`${String(iso).slice(0, 10)}T00:00:00Z`) / DAY_MS;
}

function clamp(x, low, high) {
  return Math.min(high, Math.max(low, x));
}

function round(x) {
  return Math.round(x * 10) / 10;
}

// A table of the figures behind a chart, for people who cannot see it.
function dataTable(caption, headers, rows) {
  return h(
    "details",
    { class: "chart-data" },
    h("summary", null, "Show the figures"),
    h(
      "table",
      null,
      h("caption", null, caption),
      h("thead", null, h("tr", null, headers.map((text) => h("th", { scope: "col" }, text)))),
      h("tbody", null, rows.map((row) => h("tr", null, row.map((cell) => h("td", null, cell))))),
    ),
  );
}

function svgFrame(label, description, width, height) {
  const titleId = nextId("chart-title");
  const descId = nextId("chart-desc");
  return s(
    "svg",
    {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      class: "chart",
      preserveAspectRatio: "xMidYMid meet",
    },
    s("title", { id: titleId }, label),
    s("desc", { id: descId }, description),
  );
}

// The share of the way from baseline to target a check-in value stands at (0-100).
export function valuePercent(value, baseline, target) {
  if (target === baseline) return value >= target ? 100 : 0;
  return clamp(((value - baseline) / (target - baseline)) * 100, 0, 100);
}

// Expected path (a straight line from 0 % on start_on to 100 % on due_on)
// against the check-ins (points [[date, value], …]) of one goal.
export function pathChart({ title, startOn, dueOn, baseline, target, points, today }) {
  const width = 640;
  const height = 260;
  const pad = { left: 48, right: 16, top: 16, bottom: 40 };
  const checkins = (points || []).map(([on, value]) => ({
    on,
    value,
    pct: valuePercent(Number(value), Number(baseline), Number(target)),
  }));
  const days = [dayNumber(startOn), dayNumber(dueOn), ...checkins.map((p) => dayNumber(p.on))];
  if (today) days.push(dayNumber(today));
  const x0 = Math.min(...days);
  const x1 = Math.max(...days, x0 + 1);
  const x = (iso) => pad.left + ((dayNumber(iso) - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const y = (pct) => pad.top + (1 - pct / 100) * (height - pad.top - pad.bottom);
  const last = checkins.at(-1);
  const description =
    `Expected path from 0% on ${formatDay(startOn)} to 100% on ${formatDay(dueOn)}. ` +
    (checkins.length
      ? `${checkins.length} check-in${checkins.length === 1 ? "" : "s"}; the latest, on ${formatDay(last.on)}, stands at ${round(last.pct)}%.`
      : "No check-ins yet.");
  const svg = svgFrame(title, description, width, height);

  const grid = s("g", { class: "grid", "aria-hidden": "true" });
  for (const pct of [0, 25, 50, 75, 100]) {
    grid.append(
      s("line", { x1: pad.left, x2: width - pad.right, y1: y(pct), y2: y(pct) }),
      s("text", { x: pad.left - 6, y: y(pct) + 4, "text-anchor": "end" }, `${pct}%`),
    );
  }
  grid.append(
    s("text", { x: x(startOn), y: height - 14, "text-anchor": "start" }, formatDay(startOn)),
    s("text", { x: x(dueOn), y: height - 14, "text-anchor": "end" }, `due ${formatDay(dueOn)}`),
  );
  svg.append(grid);
  if (today) {
    svg.append(
      s(
        "g",
        { class: "today", "aria-hidden": "true" },
        s("line", { x1: x(today), x2: x(today), y1: pad.top, y2: height - pad.bottom }),
        s("text", { x: x(today), y: pad.top + 10, "text-anchor": "middle" }, "today"),
      ),
    );
  }
  svg.append(
    s("line", {
      class: "series-expected",
      x1: x(startOn),
      y1: y(0),
      x2: x(dueOn),
      y2: y(100),
    }),
  );
  if (checkins.length) {
    svg.append(
      s("polyline", {
        class: "series-actual",
        points: checkins.map((p) => `${x(p.on)},${y(p.pct)}`).join(" "),
      }),
    );
    const marks = s("g", { class: "series-actual-marks" });
    for (const p of checkins) {
      marks.append(
        s(
          "rect",
          { x: x(p.on) - 4, y: y(p.pct) - 4, width: 8, height: 8 },
          s("title", null, `${formatDay(p.on)}: ${p.value} (${round(p.pct)}%)`),
        ),
      );
    }
    svg.append(marks);
  }
  const legend = h(
    "ul",
    { class: "legend" },
    h("li", { class: "legend-expected" }, "dashed line: expected path"),
    h("li", { class: "legend-actual" }, "solid line with squares: check-ins"),
  );
  const table = dataTable(
    `${title}: check-ins`,
    ["date", "value", "of the way to target"],
    checkins.map((p) => [formatDay(p.on), String(p.value), `${round(p.pct)}%`]),
  );
  return h("figure", { class: "chart-figure" }, svg, legend, table);
}

// Vertical bars, e.g. actions per ISO week. bars: [{label, value}].
export function barChart({ title, bars, unit }) {
  const width = 640;
  const height = 220;
  const pad = { left: 36, right: 8, top: 16, bottom: 44 };
  const max = Math.max(1, ...bars.map((b) => b.value));
  const slot = (width - pad.left - pad.right) / Math.max(1, bars.length);
  const y = (v) => pad.top + (1 - v / max) * (height - pad.top - pad.bottom);
  const total = bars.reduce((sum, b) => sum + b.value, 0);
  const busiest = bars.reduce((best, b) => (b.value > (best?.value ?? -1) ? b : best), null);
  const description = bars.length
    ? `${bars.length} bars, ${total} ${unit} in all` +
      (busiest && busiest.value ? `; the most, ${busiest.value}, in ${busiest.label}.` : ".")
    : "No data.";
  const svg = svgFrame(title, description, width, height);
  const axis = s("g", { class: "grid", "aria-hidden": "true" });
  for (const v of [0, Math.round(max / 2), max]) {
    axis.append(
      s("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }),
      s("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, String(v)),
    );
  }
  svg.append(axis);
  const labelEvery = Math.ceil(bars.length / 10);
  bars.forEach((bar, i) => {
    const left = pad.left + i * slot + slot * 0.15;
    const group = s(
      "g",
      { class: "bar" },
      s(
        "rect",
        { x: left, y: y(bar.value), width: slot * 0.7, height: y(0) - y(bar.value) },
        s("title", null, `${bar.label}: ${bar.value} ${unit}`),
      ),
    );
    if (bar.value > 0) {
      group.append(
        s("text", { x: left + slot * 0.35, y: y(bar.value) - 3, "text-anchor": "middle" }, String(bar.value)),
      );
    }
    if (i % labelEvery === 0) {
      group.append(
        s("text", { class: "bar-label", x: left + slot * 0.35, y: height - 26, "text-anchor": "middle" }, bar.label),
      );
    }
    svg.append(group);
  });
  const table = dataTable(title, ["", unit], bars.map((b) => [b.label, String(b.value)]));
  return h("figure", { class: "chart-figure" }, svg, table);
}

// Horizontal bars with their labels in plain text, e.g. revision reasons.
// rows: [{label, value}]. Drawn as a list so it reads as text too.
export function hbarList({ title, rows, unit }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  if (!rows.length) return h("p", { class: "empty" }, `${title}: none.`);
  return h(
    "figure",
    { class: "chart-figure" },
    h("figcaption", null, title),
    h(
      "ul",
      { class: "hbars" },
      rows.map((row) =>
        h(
          "li",
          null,
          h("span", { class: "hbar-label" }, row.label),
          meter(row.value, max, `${row.label}: ${row.value} ${unit}`),
          h("span", { class: "hbar-value" }, String(row.value)),
        ),
      ),
    ),
  );
}

// A bar showing value out of max, as a progressbar for assistive technology.
export function meter(value, max, label, expected) {
  const pct = max > 0 ? clamp((value / max) * 100, 0, 100) : 0;
  const fill = h("span", { class: "meter-fill" });
  fill.style.width = `${pct}%`;
  const bar = h(
    "span",
    {
      class: "meter",
      role: "progressbar",
      "aria-label": label,
      "aria-valuemin": "0",
      "aria-valuemax": String(max),
      "aria-valuenow": String(round(value)),
    },
    fill,
  );
  if (expected !== undefined && expected !== null) {
    const mark = h("span", { class: "meter-expected", title: `expected ${round(expected)}%` });
    mark.style.left = `${clamp(expected, 0, 100)}%`;
    bar.append(mark);
  }
  return bar;
}
