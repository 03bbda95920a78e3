// The career timeline, replayed at a date.
//
// Two questions, two times (docs/architecture.md, "Two times, one order"):
// "as recorded" shows the plan as it stood on the date — only what had been
// written down by then, so a goal set later is absent and a goal revised
// later shows its old title and due date; "as occurred" shows what had
// happened by the date, including things entered afterwards (backdated).
// The date and the mode live in the URL (#/timeline?at=2026-03-01&mode=…),
// so a replay can be bookmarked and the back button steps through replays.

import { get } from "./api.js";
import { FIRST_DAY, LAST_DAY, errorBox, formatDay, formatMoment, h, isoDay, replace, validDay } from "./dom.js";
import { ME, goalCards } from "./goals.js";

const MODES = {
  as_recorded: {
    label: "The plan as recorded on that date",
    heading: (day) => `The plan as it stood on ${formatDay(day)}`,
    replay: (day) => ({ as_recorded: day }),
    entries: (day) => ({ recorded_by: day }),
  },
  occurred_by: {
    label: "What had happened by that date",
    heading: (day) => `What had happened by ${formatDay(day)}`,
    replay: (day) => ({ occurred_by: day }),
    entries: (day) => ({ occurred_to: day }),
  },
};


function entryItem(entry) {
  const moved = entry.occurred_at.slice(0, 10) !== entry.recorded_at.slice(0, 10);
  return h(
    "li",
    { class: ["entry", entry.retracted ? "retracted" : null], "data-type": entry.type },
    h("p", { class: "kind" }, entry.summary, entry.retracted ? " (retracted)" : null),
    h(
      "p",
      { class: "when" },
      h("time", { datetime: entry.occurred_at }, formatMoment(entry.occurred_at)),
      moved ? ` · recorded ${formatMoment(entry.recorded_at)}` : null,
      ` · ${entry.type}`,
    ),
  );
}

// A list of entries with a "Show older" button that follows next_cursor.
export function entryList(path, params, firstPage) {
  const list = h("ol", { class: "timeline entries", "aria-label": "Timeline entries, newest first" });
  const more = h("button", { type: "button", class: "more" }, "Show older entries");
  const status = h("p", { class: "muted", role: "status" });
  let cursor = null;
  const add = (page) => {
    for (const entry of page.entries) list.append(entryItem(entry));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    if (!list.childElementCount) status.textContent = "Nothing recorded in this range.";
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      add(await get(path, { ...params, cursor }));
      status.textContent = "";
    } catch (error) {
      status.textContent = error.message;
    } finally {
      more.disabled = false;
    }
  });
  add(firstPage);
  return [list, status, more];
}

function planFacts(plan) {
  const facts = [
    plan.target_role ? ["Target role", plan.target_role] : null,
    plan.role ? ["Role", plan.role] : null,
    plan.season ? ["Season", plan.season] : null,
    ["Open tasks", String(plan.open_tasks)],
    ["Events", String(plan.events)],
  ].filter(Boolean);
  return h(
    "dl",
    { class: "stats plan-facts" },
    facts.map(([term, value]) => h("div", null, h("dt", null, term), h("dd", null, value))),
  );
}

function controls(day, mode, onChange) {
  const input = h("input", { type: "date", id: "replay-date", name: "at", value: day, required: true, min: FIRST_DAY, max: LAST_DAY });
  const radios = Object.entries(MODES).map(([key, spec]) =>
    h(
      "label",
      null,
      h("input", { type: "radio", name: "mode", value: key, checked: key === mode }),
      ` ${spec.label}`,
    ),
  );
  const form = h(
    "form",
    { class: "controls", "aria-label": "Replay", onsubmit: (event) => event.preventDefault() },
    h("div", { class: "field" }, h("label", { for: "replay-date" }, "Replay date"), input),
    h("fieldset", null, h("legend", null, "Show"), radios),
  );
  form.addEventListener("change", () => {
    const chosen = form.querySelector("input[name=mode]:checked");
    if (validDay(input.value)) onChange(input.value, chosen ? chosen.value : "as_recorded");
  });
  return form;
}

async function replayResults(source, day, mode) {
  const spec = MODES[mode];
  const [replay, page] = await Promise.all([
    get(`${source.api}/replay`, spec.replay(day)),
    get(`${source.api}/timeline`, { ...spec.entries(day), limit: 20 }),
  ]);
  return [
    h("h2", { id: "replay-heading" }, spec.heading(day)),
    planFacts(replay.plan),
    h("h3", null, "Goals then"),
    replay.goals.length
      ? goalCards(replay.goals, source, { then: true })
      : h("p", { class: "empty" }, "No goals yet on that date."),
    h("h3", null, "Timeline"),
    entryList(`${source.api}/timeline`, { ...spec.entries(day), limit: 20 }, page),
  ];
}

// The replay view for a source (the person, or a person a coach sees). A new
// date or mode redraws only the results, so the date control keeps focus
// while someone types; the address follows (pushState), so it can be
// bookmarked and the back button returns to the previous replay.
export async function replaySection(source, day, mode, hashFor) {
  const results = h("div", { class: "replay-results", "aria-live": "polite" }, await replayResults(source, day, mode));
  let ticket = 0;
  const form = controls(day, mode, async (newDay, newMode) => {
    const mine = ++ticket;
    history.pushState(null, "", hashFor(newDay, newMode));
    results.setAttribute("aria-busy", "true");
    try {
      const content = await replayResults(source, newDay, newMode);
      if (mine === ticket) replace(results, content);
    } catch (error) {
      if (mine === ticket) replace(results, errorBox(error));
    } finally {
      if (mine === ticket) results.removeAttribute("aria-busy");
    }
  });
  return [form, results];
}

export async function timelineView(query) {
  const params = new URLSearchParams(query || "");
  const day = validDay(params.get("at")) ? params.get("at") : isoDay(new Date());
  const mode = MODES[params.get("mode")] ? params.get("mode") : "as_recorded";
  const hashFor = (d, m) => `#/timeline?at=${d}&mode=${m}`;
  return [
    h("h1", null, "Career timeline"),
    h(
      "p",
      { class: "muted" },
      "Pick a date to replay your plan as it stood then (only what you had recorded by that day), " +
        "or switch to what had happened by then (including things you entered later).",
    ),
    await replaySection(ME, day, mode, hashFor),
  ];
}
