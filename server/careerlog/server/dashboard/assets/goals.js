// Goals: the list with progress bars, and one goal with its expected-vs-actual
// chart and its course-correction history as a timeline.
//
// Each renderer takes a `source`: where to read ("/v1/me" for the person,
// "/v1/coach/people/NAME" for a coach) and where to link ("#/goals" or
// "#/coach/NAME/goals"), so the person and a coach see the same views, and a
// coach's only hold what the API lets through for their scopes.

import { agendaList, warningList } from "./activity.js";
import { get } from "./api.js";
import { meter, pathChart } from "./charts.js";
import { formatDay, formatMoment, h, humanize, percent } from "./dom.js";

export const ME = { api: "/v1/me", link: "#/goals", scopes: null };

const VERDICT_TEXT = {
  on_track: "on track",
  at_risk: "at risk",
  behind: "behind",
  overdue: "overdue",
};

function has(source, scope) {
  return source.scopes === null || source.scopes.includes(scope);
}

export function statusBadge(goal) {
  const key = goal.status === "active" && goal.verdict ? goal.verdict : goal.status;
  const text = goal.status === "active" && goal.verdict ? VERDICT_TEXT[goal.verdict] || humanize(goal.verdict) : humanize(goal.status);
  return h("span", { class: ["badge", key], "data-status": key }, text);
}

function progressLine(goal) {
  const label = `${goal.title}: ${percent(goal.percent_done)} done, expected ${percent(goal.expected_percent)}`;
  return h(
    "div",
    { class: "progress-line" },
    meter(goal.percent_done, 100, label, goal.status === "active" ? goal.expected_percent : null),
    h("span", { class: "percent" }, `${percent(goal.percent_done)} done`),
  );
}

function daysLeft(goal, when) {
  if (goal.status !== "active") return null;
  if (goal.days_left < 0) return `${-goal.days_left} days overdue${when}`;
  return `${goal.days_left} days left${when}`;
}

// `then` is true for a replay: the figures are as of the replayed date.
function goalFacts(goal, then = false) {
  const when = then ? " then" : "";
  const facts = [
    goal.status === "active" ? `expected by ${then ? "then" : "now"}: ${percent(goal.expected_percent)}` : null,
    `due ${formatDay(goal.due_on)}`,
    goal.original_due_on !== goal.due_on ? `first due ${formatDay(goal.original_due_on)}` : null,
    daysLeft(goal, when),
    goal.current !== null && goal.current !== undefined
      ? `${goal.metric}: ${goal.current} of ${goal.target}${goal.unit ? ` ${goal.unit}` : ""}`
      : null,
    goal.milestones_total ? `milestones ${goal.milestones_reached}/${goal.milestones_total}` : null,
    goal.days_since_progress !== null && goal.days_since_progress !== undefined
      ? `last progress ${goal.days_since_progress} days ${then ? "before" : "ago"}`
      : null,
  ];
  return h("ul", { class: "facts" }, facts.filter(Boolean).map((fact) => h("li", null, fact)));
}

export function goalCards(goals, source, { then = false } = {}) {
  if (!goals.length) return h("p", { class: "empty" }, "No goals yet. Set one with: careerlog goal set \"…\" --due +6m");
  return h(
    "ul",
    { class: "cards goals" },
    goals.map((goal) =>
      h(
        "li",
        { class: "card goal", "data-goal": goal.goal_id },
        h(
          "div",
          { class: "card-head" },
          h("h2", null, h("a", { href: `${source.link}/${encodeURIComponent(goal.goal_id)}` }, goal.title)),
          statusBadge(goal),
        ),
        progressLine(goal),
        goalFacts(goal, then),
      ),
    ),
  );
}

export async function goalsView() {
  const [goals, agenda, insights] = await Promise.all([
    get(`${ME.api}/goals`),
    get(`${ME.api}/agenda`),
    get(`${ME.api}/insights`),
  ]);
  return [
    h("h1", null, "Goals"),
    warningList(insights),
    agendaList(agenda),
    agenda.length || insights.warnings.length ? h("h2", null, "All goals") : null,
    h("p", { class: "muted" }, "Closest to failing first. The dashed mark on each bar is where the straight path says you should be today."),
    goalCards(goals, ME),
  ];
}

// --- one goal ---------------------------------------------------------------

const KIND_TEXT = {
  revised: "Revised",
  rescheduled: "Rescheduled",
  milestone_rescheduled: "Milestone rescheduled",
  paused: "Paused",
  resumed: "Resumed",
  dropped: "Dropped",
  superseded: "Superseded",
  achieved: "Achieved",
};

function show(value) {
  if (value === null || value === undefined || value === "") return "(empty)";
  return typeof value === "string" ? `“${value}”` : String(value);
}

function slipText(days) {
  if (days > 0) return `slipped ${days} day${days === 1 ? "" : "s"}`;
  if (days < 0) return `brought forward ${-days} day${days === -1 ? "" : "s"}`;
  return "no slip";
}

function correctionItem(entry) {
  const details = [];
  if (entry.changes && entry.changes.length) {
    details.push(
      h(
        "ul",
        { class: "changes" },
        entry.changes.map((change) =>
          h("li", null, `${humanize(change.field)}: ${show(change.before)} → ${show(change.after)}`),
        ),
      ),
    );
  }
  if (entry.from_due || entry.to_due) {
    details.push(
      h(
        "p",
        { class: "due-change" },
        `Due ${formatDay(entry.from_due)} → ${formatDay(entry.to_due)} (${slipText(entry.slip_days)})`,
      ),
    );
  }
  if (entry.reason_code || entry.reason) {
    details.push(
      h(
        "p",
        { class: "reason" },
        h("span", { class: "reason-code" }, `Reason: ${humanize(entry.reason_code || "none given")}`),
        entry.reason ? [" — ", h("q", { class: "reason-text" }, entry.reason)] : null,
      ),
    );
  }
  return h(
    "li",
    { class: ["correction", entry.kind], "data-kind": entry.kind },
    h("p", { class: "kind" }, KIND_TEXT[entry.kind] || humanize(entry.kind)),
    h(
      "p",
      { class: "when" },
      h("time", { datetime: entry.occurred_on }, formatDay(entry.occurred_on)),
      ` · recorded ${formatMoment(new Date(entry.recorded_ms).toISOString())}`,
    ),
    details,
  );
}

export function correctionTimeline(history) {
  const summary = h(
    "p",
    { class: "muted" },
    `${history.revisions} revision${history.revisions === 1 ? "" : "s"}, ` +
      `${history.reschedules} reschedule${history.reschedules === 1 ? "" : "s"} ` +
      `(${slipText(history.slip_days)} in all), ${history.pauses} pause${history.pauses === 1 ? "" : "s"}.`,
  );
  if (!history.entries.length) return [summary, h("p", { class: "empty" }, "No course-corrections: the plan has not changed.")];
  // Newest first, like every timeline on the dashboard.
  const entries = [...history.entries].reverse();
  return [summary, h("ol", { class: "timeline corrections", "aria-label": "Course-corrections, newest first" }, entries.map(correctionItem))];
}

function milestoneList(goal) {
  if (!goal.milestones.length) return null;
  return [
    h("h2", null, "Milestones"),
    h(
      "ul",
      { class: "milestones" },
      goal.milestones.map((m) =>
        h(
          "li",
          null,
          m.reached_on ? "✓ " : "○ ",
          m.title,
          h("span", { class: "muted" }, m.reached_on ? ` — reached ${formatDay(m.reached_on)}` : m.due_on ? ` — due ${formatDay(m.due_on)}` : ""),
        ),
      ),
    ),
  ];
}

export async function goalDetail(source, goalId) {
  const path = `${source.api}/goals/${encodeURIComponent(goalId)}`;
  const [goal, history] = await Promise.all([
    has(source, "progress") ? get(path) : null,
    has(source, "history") ? get(`${path}/history`) : null,
  ]);
  const title = goal ? goal.title : history ? history.title : goalId;
  const parts = [h("h1", null, title)];
  if (goal) {
    parts.push(
      h("div", { class: "card-head" }, statusBadge(goal), h("span", { class: "muted" }, `${goal.horizon}-term goal`)),
      progressLine(goal),
      goalFacts(goal),
      h("h2", null, "Expected path and check-ins"),
      pathChart({
        title: `${goal.title}: expected path and check-ins`,
        startOn: goal.start_on,
        dueOn: goal.due_on,
        baseline: goal.baseline,
        target: goal.target,
        points: goal.points,
        today: goal.status === "active" ? new Date().toISOString().slice(0, 10) : null,
      }),
      milestoneList(goal),
    );
  }
  if (history) {
    parts.push(h("h2", null, "Course-corrections"), correctionTimeline(history));
  }
  return parts;
}

export async function goalView(goalId) {
  return [h("p", null, h("a", { href: ME.link }, "← All goals")), await goalDetail(ME, goalId)];
}
