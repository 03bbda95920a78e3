// Talking to the server: the token, sign-in and sign-out, and JSON requests.
//
// The token lives in sessionStorage (gone when the tab closes, never sent
// anywhere but this server, as Authorization: Bearer). An enrollment token
// pasted at sign-in is exchanged, through the same POST /v1/devices a CLI
// device uses, for a device token of a new device named "web dashboard";
// signing out of such a session revokes that device, so no token outlives the
// session on the server either.

const TOKEN_KEY = "careerlog.token";
const DEVICE_KEY = "careerlog.device";
const MINTED_KEY = "careerlog.minted";
const NAME_KEY = "careerlog.name";
const ENROLLMENT_PREFIX = "cle_";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export function session() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  return { token, device: sessionStorage.getItem(DEVICE_KEY), name: sessionStorage.getItem(NAME_KEY) };
}

// Why the last session ended, when the server ended it. Any request may be the
// one that meets the 401, including a stale one whose page the user has already
// left; the next page rendered must still say why the user is signed out.
let endedBecause = null;

function forget(reason = null) {
  for (const key of [TOKEN_KEY, DEVICE_KEY, MINTED_KEY, NAME_KEY]) sessionStorage.removeItem(key);
  endedBecause = reason;
}

// The reason the server ended the session, once: a later sign-in page has none.
export function takeEndReason() {
  const reason = endedBecause;
  endedBecause = null;
  return reason;
}

function explain(status, detail, path) {
  if (status === 401) {
    return "This token is not valid: it is unknown, revoked or mistyped. Sign in again with a current token.";
  }
  if (status === 403 && path === "/v1/devices") {
    return `The enrollment token was refused: ${detail || "it is unknown, expired or already used"}. Ask for a new one (careerlog-server user enroll NAME).`;
  }
  if (status === 403) return detail || "You are not allowed to see this.";
  if (status === 404) return detail || "Not found.";
  if (status === 429) return "Too many attempts; wait a minute and try again.";
  if (status >= 500) return `The server failed (${status}); try again, or tell its operator.`;
  return detail || `The request failed (${status}).`;
}

async function request(method, path, { token, body, params } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "Cannot reach the server. Check that it is running and that you are online.");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : "";
    throw new ApiError(response.status, explain(response.status, detail, path));
  }
  return data;
}

function randomDeviceId() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// Sign in with a device token or an enrollment token; resolves to the session.
export async function signIn(pasted) {
  const given = String(pasted || "").trim();
  if (!given) throw new ApiError(0, "Paste a token first.");
  let token = given;
  let minted = false;
  if (given.startsWith(ENROLLMENT_PREFIX)) {
    const enrolled = await request("POST", "/v1/devices", {
      body: { enrollment_token: given, device: randomDeviceId(), name: "web dashboard" },
    });
    token = enrolled.token;
    minted = true;
  }
  const devices = await request("GET", "/v1/devices", { token });
  const current = (devices || []).find((d) => d.current);
  endedBecause = null;
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(DEVICE_KEY, current ? current.device : "");
  if (minted) sessionStorage.setItem(MINTED_KEY, "1");
  try {
    const me = await request("GET", "/v1/me", { token });
    if (me && me.name) sessionStorage.setItem(NAME_KEY, me.name);
  } catch {
    // The name is only shown in the header; the session works without it.
  }
  return session();
}

// Sign out; revoke the device this session created from an enrollment token.
export async function signOut() {
  const current = session();
  const minted = sessionStorage.getItem(MINTED_KEY) === "1";
  forget();
  if (current && minted && current.device) {
    try {
      await request("DELETE", `/v1/devices/${encodeURIComponent(current.device)}`, {
        token: current.token,
      });
    } catch {
      // Already revoked or unreachable: the token is forgotten here either way.
    }
  }
}

// GET a JSON resource with the session's token; a 401 ends the session.
export async function get(path, params) {
  const current = session();
  if (!current) throw new ApiError(401, endedBecause || explain(401, "", path));
  try {
    return await request("GET", path, { token: current.token, params });
  } catch (error) {
    if (error.status === 401) forget(error.message);
    throw error;
  }
}
