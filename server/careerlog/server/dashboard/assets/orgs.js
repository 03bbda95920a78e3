// Organisation aggregates, for the organisation's admins. Every figure is
// over a group of people; the server hides any group smaller than five
// (`suppressed`), and the page says so in words instead of showing a number,
// so nothing here can single anyone out.

import { get } from "./api.js";
import { hbarList } from "./charts.js";
import { formatDay, h, humanize } from "./dom.js";

function orgLink(org) {
  return `#/orgs/${encodeURIComponent(org)}`;
}

// "Your organisations" on the analytics page: links for the ones you administer.
export async function orgLinks() {
  let memberships;
  try {
    memberships = await get("/v1/orgs");
  } catch {
    return null; // Organisations are optional; the rest of the page stands.
  }
  const administered = (memberships || []).filter((m) => m.admin);
  if (!administered.length) return null;
  return [
    h("h2", null, "Your organisations"),
    h(
      "ul",
      { class: "orgs" },
      administered.map((m) => h("li", null, h("a", { href: orgLink(m.org) }, `${m.org}: aggregates`))),
    ),
  ];
}

function cell(term, aggregate, format, minGroup) {
  const shown = !aggregate.suppressed && aggregate.value !== null;
  return h(
    "div",
    { "data-suppressed": aggregate.suppressed ? "true" : "false" },
    h("dt", null, term),
    h("dd", null, shown ? format(aggregate.value) : "hidden"),
    h(
      "p",
      { class: "help" },
      aggregate.suppressed
        ? `fewer than ${minGroup} people`
        : aggregate.people !== null
          ? `over ${aggregate.people} people`
          : "",
    ),
  );
}

export async function orgView(org) {
  const data = await get(`/v1/orgs/${encodeURIComponent(org)}/aggregates`);
  const share = (v) => `${Math.round(v * 100)}%`;
  const count = (v) => String(Math.round(v));
  const days = (v) => `${Math.round(v * 10) / 10} d`;
  const shownReasons = data.revision_reasons.filter((r) => !r.suppressed && r.people);
  const hidden = data.revision_reasons.length - shownReasons.length;
  return [
    h("p", null, h("a", { href: "#/analytics" }, "← Analytics")),
    h("h1", null, `Organisation ${org}`),
    h(
      "p",
      { class: "muted" },
      `As of ${formatDay(data.today)}. Every figure is over a group of at least ${data.min_group} people; ` +
        "a smaller group is hidden, so no one can be singled out.",
    ),
    h(
      "dl",
      { class: "stats org-stats" },
      cell("People", data.people, count, data.min_group),
      cell("With a current plan", data.current_plan, share, data.min_group),
      cell("Reviewing on cadence", data.review_on_cadence, share, data.min_group),
      cell("Median days to a milestone", data.median_days_to_milestone, days, data.min_group),
    ),
    h("h2", null, "Why plans changed"),
    hbarList({
      title: "People who gave each reason",
      unit: "people",
      rows: shownReasons.map((r) => ({ label: humanize(r.reason_code), value: r.people })),
    }),
    hidden
      ? h("p", { class: "muted" }, `${hidden} other reason${hidden === 1 ? "" : "s"} hidden: given by fewer than ${data.min_group} people.`)
      : null,
  ];
}
