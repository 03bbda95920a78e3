// The dashboard's shell: sign-in, the layout, navigation and the router.
//
// Views are chosen by the URL fragment (#/goals, #/goals/ID, #/timeline,
// #/analytics, #/orgs/ORG, #/coach, #/coach/USER, #/coach/USER/goals/ID), so
// the back button and bookmarks work and the server serves one page. Each view is an async function that fills
// the main region; a failed request shows its message there, in words.

import { ApiError, session, signIn, signOut, takeEndReason } from "./api.js";
import { errorBox, h, replace } from "./dom.js";
import { analyticsView } from "./analytics.js";
import { coachView, personGoalView, personView } from "./coach.js";
import { goalView, goalsView } from "./goals.js";
import { orgView } from "./orgs.js";
import { timelineView } from "./timeline.js";

const main = document.getElementById("main");

const NAV = [
  ["#/goals", "Goals"],
  ["#/timeline", "Timeline"],
  ["#/analytics", "Analytics"],
  ["#/coach", "Coaching"],
];

// [pattern, view]: the first pattern to match the fragment's path wins; the
// view gets the captured parts, then the query string.
const ROUTES = [
  [/^#\/goals\/([\w-]+)$/, goalView],
  [/^#\/goals$/, goalsView],
  [/^#\/timeline$/, timelineView],
  [/^#\/analytics$/, analyticsView],
  [/^#\/orgs\/([^/]+)$/, orgView],
  [/^#\/coach\/([^/]+)\/goals\/([\w-]+)$/, personGoalView],
  [/^#\/coach\/([^/]+)$/, personView],
  [/^#\/coach$/, coachView],
];

let renderCount = 0;

// The navigation entry a fragment belongs to (an organisation is under Analytics).
function section(hash) {
  const top = hash.split(/[/?]/, 2).join("/");
  return top === "#/orgs" ? "#/analytics" : top;
}

function header(current, who) {
  const links = NAV.map(([href, label]) =>
    h(
      "li",
      null,
      h("a", { href, "aria-current": section(current) === href ? "page" : null }, label),
    ),
  );
  return h(
    "header",
    { class: "site" },
    h("p", { class: "brand" }, "Careerlog"),
    h("nav", { "aria-label": "Dashboard" }, h("ul", null, links)),
    who ? h("p", { class: "who" }, `Signed in as ${who}`) : null,
    h(
      "button",
      {
        type: "button",
        class: "sign-out",
        onclick: async () => {
          await signOut();
          showSignIn("You are signed out.");
        },
      },
      "Sign out",
    ),
  );
}

function showSignIn(notice) {
  document.title = "Sign in · Careerlog";
  const shell = document.body;
  const existing = shell.querySelector("header.site");
  if (existing) existing.remove();
  const error = h("p", { class: "error", role: "alert", id: "sign-in-error", hidden: true });
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "token-help sign-in-error",
  });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    {
      class: "sign-in",
      "aria-labelledby": "sign-in-heading",
      onsubmit: async (event) => {
        event.preventDefault();
        error.hidden = true;
        button.disabled = true;
        button.textContent = "Signing in…";
        try {
          await signIn(input.value);
          input.value = "";
          // Changing the fragment renders (hashchange); rendering here as well
          // would race two renders of one page.
          if (!location.hash || location.hash === "#/") location.hash = "#/goals";
          else await render({ focus: true });
        } catch (failure) {
          error.textContent = failure instanceof ApiError ? failure.message : String(failure);
          error.hidden = false;
          input.focus();
        } finally {
          button.disabled = false;
          button.textContent = "Sign in";
        }
      },
    },
    h("h1", { id: "sign-in-heading" }, "Sign in to Careerlog"),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    h("label", { for: "token" }, "Token"),
    input,
    h(
      "p",
      { id: "token-help", class: "help" },
      "Paste an enrollment token from your server's operator (careerlog-server user enroll NAME): " +
        "the dashboard registers itself as a device named “web dashboard”. " +
        "A device token works too. The token is kept only in this tab and forgotten when you sign out or close it.",
    ),
    error,
    button,
  );
  replace(main, form);
  input.focus();
}

async function render({ focus = false } = {}) {
  const current = session();
  if (!current) {
    showSignIn(takeEndReason());
    return;
  }
  const hash = location.hash && location.hash !== "#/" ? location.hash : "#/goals";
  const existing = document.body.querySelector("header.site");
  const fresh = header(hash, current.name);
  if (existing) existing.replaceWith(fresh);
  else document.body.insertBefore(fresh, main);
  const ticket = ++renderCount;
  const region = h("div", { class: "view", "aria-busy": "true" }, h("p", { class: "loading" }, "Loading…"));
  replace(main, region);
  const [path, query] = hash.split("?", 2);
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (!route) {
    replace(region, h("h1", null, "Not found"), h("p", null, "There is no such page."));
    region.removeAttribute("aria-busy");
    return;
  }
  const [pattern, view] = route;
  try {
    const args = path.match(pattern).slice(1).map(decodeURIComponent);
    const content = await view(...args, query || "");
    if (ticket !== renderCount) return; // a newer navigation won
    replace(region, content);
    const heading = region.querySelector("h1");
    document.title = `${heading ? heading.textContent : "Dashboard"} · Careerlog`;
    if (focus && heading) {
      // Tell screen readers the page changed: move focus to its heading.
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  } catch (error) {
    if (ticket !== renderCount) return;
    if (error instanceof ApiError && error.status === 401) {
      takeEndReason(); // shown here; a later sign-in page must not repeat it
      showSignIn(error.message);
      return;
    }
    replace(region, h("h1", null, "Could not load this page"), errorBox(error));
  } finally {
    region.removeAttribute("aria-busy");
  }
}

// Views that re-render part of themselves (the replay date) call this.
export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

window.addEventListener("hashchange", () => render({ focus: true }));
render();
