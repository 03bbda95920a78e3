import { h } from "./dom.js";
export async function goalsView() {
  return h("h1", null, "goalsView");
}
export async function goalView() {
  return h("h1", null, "goalView");
}
