// Analytics for a period: weekly activity, goals set/achieved/dropped, and the
// reasons behind course-corrections. The period is in the URL
// (#/analytics?from=2026-01-01&to=2026-06-30); the default is the last year.

import { streakStats } from "./activity.js";
import { get } from "./api.js";
import { barChart, hbarList } from "./charts.js";
import { FIRST_DAY, LAST_DAY, formatDay, h, humanize, isoDay, validDay } from "./dom.js";
import { orgLinks } from "./orgs.js";

const DAY_MS = 86_400_000;

function stat(term, value) {
  return h("div", null, h("dt", null, term), h("dd", null, value === null || value === undefined ? "—" : String(value)));
}

function periodForm(from, to) {
  const limits = { min: FIRST_DAY, max: LAST_DAY, required: true };
  const start = h("input", { type: "date", id: "period-from", name: "from", value: from, ...limits });
  const end = h("input", { type: "date", id: "period-to", name: "to", value: to, ...limits });
  const form = h(
    "form",
    {
      class: "controls",
      "aria-label": "Period",
      onsubmit: (event) => {
        event.preventDefault();
        if (validDay(start.value) && validDay(end.value)) {
          location.hash = `#/analytics?from=${start.value}&to=${end.value}`;
        }
      },
    },
    h("div", { class: "field" }, h("label", { for: "period-from" }, "From"), start),
    h("div", { class: "field" }, h("label", { for: "period-to" }, "To (included)"), end),
    h("button", { type: "submit" }, "Show"),
  );
  return form;
}

export function analyticsBody(data) {
  const days = (value) => (value === null || value === undefined ? null : `${Math.round(value * 10) / 10} d`);
  return [
    h("h2", null, "In numbers"),
    h(
      "dl",
      { class: "stats" },
      stat("Actions", data.actions),
      stat("Goals set", data.goals_set),
      stat("Goals achieved", data.goals_achieved),
      stat("Goals dropped", data.goals_dropped),
      stat("Milestones reached", data.milestones_reached),
      stat("Median days to a milestone", days(data.median_days_to_milestone)),
      stat("Reschedules", data.reschedules),
      stat("Deadline slip (days, total)", data.slip_days_total),
    ),
    h("h2", null, "Weekly activity"),
    barChart({
      title: "Actions per week",
      unit: "actions",
      bars: data.weekly_activity.map((w) => ({ label: w.week.replace(/^\d{4}-/, ""), value: w.actions })),
    }),
    h("h2", null, "Goals"),
    barChart({
      title: "Goals set, achieved, dropped and superseded",
      unit: "goals",
      bars: [
        { label: "set", value: data.goals_set },
        { label: "achieved", value: data.goals_achieved },
        { label: "dropped", value: data.goals_dropped },
        { label: "superseded", value: data.goals_superseded },
      ],
    }),
    h("h2", null, "Why plans changed"),
    hbarList({
      title: "Reasons given for course-corrections",
      unit: "times",
      rows: data.revision_reasons.map((r) => ({ label: humanize(r.reason_code), value: r.count })),
    }),
  ];
}

export async function analyticsView(query) {
  const params = new URLSearchParams(query || "");
  const now = new Date();
  const to = validDay(params.get("to")) ? params.get("to") : isoDay(now);
  const from = validDay(params.get("from")) ? params.get("from") : isoDay(new Date(now.getTime() - 364 * DAY_MS));
  const [data, insights, orgs] = await Promise.all([
    get("/v1/me/analytics", { from, to }),
    get("/v1/me/insights"),
    orgLinks(),
  ]);
  return [
    h("h1", null, "Analytics"),
    periodForm(from, to),
    h("p", { class: "muted" }, `From ${formatDay(data.start)} to ${formatDay(data.end)}.`),
    analyticsBody(data),
    h("h2", null, "Streaks, as of today"),
    streakStats(insights),
    orgs,
  ];
}
