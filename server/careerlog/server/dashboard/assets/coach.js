import { h } from "./dom.js";
export async function coachView() {
  return h("h1", null, "coachView");
}
export async function personView() {
  return h("h1", null, "personView");
}
