import { h } from "./dom.js";
export async function timelineView() {
  return h("h1", null, "timelineView");
}
