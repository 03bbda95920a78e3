import { h } from "./dom.js";
export async function analyticsView() {
  return h("h1", null, "analyticsView");
}
