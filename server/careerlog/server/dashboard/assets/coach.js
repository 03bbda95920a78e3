// A coach's view: the people who share with the signed-in user, and, for
// each, only the views their grant's scopes open. The page never asks for a
// view outside the scopes (the API would refuse it anyway, with 403), and
// shows what the API withholds as absent, never as a placeholder.

import { streakStats, warningList } from "./activity.js";
import { get } from "./api.js";
import { hbarList } from "./charts.js";
import { formatDay, h, humanize } from "./dom.js";
import { correctionTimeline, goalCards, goalDetail } from "./goals.js";
import { entryList } from "./timeline.js";

const SCOPE_TEXT = {
  progress: "goals and progress",
  history: "course-corrections",
  timeline: "timeline",
  activity: "activity and warnings",
  skills: "skill gaps",
  journal: "journal and their own words",
};

function personApi(name) {
  return `/v1/coach/people/${encodeURIComponent(name)}`;
}

function personLink(name) {
  return `#/coach/${encodeURIComponent(name)}`;
}

function source(person) {
  return { api: personApi(person.person), link: `${personLink(person.person)}/goals`, scopes: person.scopes };
}

const SCOPE_ORDER = Object.keys(SCOPE_TEXT);

function scopeList(scopes) {
  const ordered = [...scopes].sort((a, b) => SCOPE_ORDER.indexOf(a) - SCOPE_ORDER.indexOf(b));
  return h(
    "ul",
    { class: "facts scopes", "aria-label": "Shared with you" },
    ordered.map((scope) => h("li", { "data-scope": scope }, SCOPE_TEXT[scope] || scope)),
  );
}

export async function coachView() {
  const people = await get("/v1/coach/people");
  return [
    h("h1", null, "People who share with you"),
    people.length
      ? h(
          "ul",
          { class: "cards people" },
          people.map((person) =>
            h(
              "li",
              { class: "card person" },
              h("h2", null, h("a", { href: personLink(person.person) }, person.person)),
              h(
                "p",
                { class: "muted" },
                `Since ${formatDay(person.granted_on)}`,
                person.expires_on ? `, until ${formatDay(person.expires_on)}` : "",
                ". They share:",
              ),
              scopeList(person.scopes),
            ),
          ),
        )
      : h(
          "p",
          { class: "empty" },
          "Nobody shares with you yet. A person shares with you by running: " +
            "careerlog share grant YOUR_USER_NAME --scopes progress,history",
        ),
  ];
}

async function historySection(api) {
  const overview = await get(`${api}/history`);
  const changed = overview.goals.filter((g) => g.entries.length);
  return [
    h("h2", null, "Course-corrections"),
    hbarList({
      title: "Reasons given",
      unit: "times",
      rows: overview.reasons.map((r) => ({ label: humanize(r.reason_code), value: r.count })),
    }),
    changed.length
      ? changed.map((history) => [h("h3", null, history.title), correctionTimeline(history)])
      : h("p", { class: "empty" }, "No course-corrections."),
  ];
}

async function activitySection(api) {
  const insights = await get(`${api}/insights`);
  return [h("h2", null, "Activity"), streakStats(insights), warningList(insights)];
}

async function skillsSection(api) {
  const gaps = await get(`${api}/skills`);
  return [
    h("h2", null, "Skill gaps"),
    gaps.length
      ? h(
          "ul",
          null,
          gaps.map((g) => h("li", null, `${g.skill}: level ${g.current_level} → ${g.target_level}${g.by_date ? ` by ${formatDay(g.by_date)}` : ""}`)),
        )
      : h("p", { class: "empty" }, "No skill plans."),
  ];
}

async function timelineSection(api) {
  const page = await get(`${api}/timeline`, { limit: 20 });
  return [h("h2", null, "Timeline"), entryList(`${api}/timeline`, { limit: 20 }, page)];
}

async function journalSection(api) {
  const journal = await get(`${api}/journal`);
  const items = [
    ...journal.reflections.map((r) => h("li", null, `${r.title}: ${[r.reflection, r.lessons].filter(Boolean).join(" — ")}`)),
    ...journal.achievements.map((a) => h("li", null, `Achievement: ${a.title}`)),
  ];
  return [
    h("h2", null, "Journal"),
    items.length ? h("ul", null, items) : h("p", { class: "empty" }, "Nothing in the journal yet."),
  ];
}

export async function personView(name) {
  const person = await get(personApi(name));
  const api = personApi(person.person);
  const scopes = new Set(person.scopes);
  const sections = [];
  if (scopes.has("progress")) {
    sections.push(
      (async () => [h("h2", null, "Goals"), goalCards(await get(`${api}/goals`), source(person))])(),
    );
  }
  if (scopes.has("history")) sections.push(historySection(api));
  if (scopes.has("timeline")) sections.push(timelineSection(api));
  if (scopes.has("activity")) sections.push(activitySection(api));
  if (scopes.has("skills")) sections.push(skillsSection(api));
  if (scopes.has("journal")) sections.push(journalSection(api));
  return [
    h("p", null, h("a", { href: "#/coach" }, "← Everyone who shares with you")),
    h("h1", null, person.person),
    h("p", { class: "muted" }, "They share with you:"),
    scopeList(person.scopes),
    await Promise.all(sections),
  ];
}

export async function personGoalView(name, goalId) {
  const person = await get(personApi(name));
  return [
    h("p", null, h("a", { href: personLink(person.person) }, `← ${person.person}`)),
    await goalDetail(source(person), goalId),
  ];
}
