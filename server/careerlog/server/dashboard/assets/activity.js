// Streaks, stagnation warnings and the agenda: the "keep going" parts of the
// loop, shared by the person's pages and a coach's (under the scopes that
// open them: activity for insights, progress for the agenda).

import { formatDay, h, humanize } from "./dom.js";

function stat(term, value) {
  return h("div", null, h("dt", null, term), h("dd", null, value === null || value === undefined ? "—" : String(value)));
}

export function streakStats(insights) {
  return h(
    "dl",
    { class: "stats streaks" },
    stat("Streak (weeks)", insights.streak_weeks),
    stat("Best streak (weeks)", insights.best_streak_weeks),
    stat("Consistency", `${Math.round(insights.consistency * 100)}%`),
    stat("This week", insights.this_week),
    stat("Actions in all", insights.actions_total),
    stat("Days since an action", insights.days_since_action),
  );
}

export function warningList(insights) {
  if (!insights.warnings.length) return null;
  return [
    h("h2", null, "Needs attention"),
    h(
      "ul",
      { class: "warnings" },
      insights.warnings.map((w) => h("li", { "data-code": w.code }, h("span", { "aria-hidden": "true" }, "⚠ "), w.message)),
    ),
  ];
}

function when(item) {
  if (item.overdue) return `overdue by ${-item.days} day${item.days === -1 ? "" : "s"}`;
  if (item.days === 0) return "due today";
  return `due in ${item.days} day${item.days === 1 ? "" : "s"}`;
}

export function agendaList(items) {
  if (!items.length) return null;
  return [
    h("h2", null, "Due soon"),
    h(
      "ul",
      { class: "agenda" },
      items.map((item) =>
        h(
          "li",
          { class: item.overdue ? "overdue" : null },
          h("span", { class: "badge agenda-kind" }, humanize(item.kind)),
          " ",
          item.title,
          h("span", { class: "muted" }, ` — ${when(item)} (${formatDay(item.due_on)})`),
        ),
      ),
    ),
  ];
}
