// The API, called by URLs relative to this page ("../movies/"), so a stage prefix is kept.
// Tokens live in sessionStorage (this tab only, gone when it closes) and are refreshed with
// POST token/refresh/ at 70 % of the access token's lifetime; one refresh at a time, because a
// refresh token is single-use and presenting a spent one ends the session.

const BASE = new URL("../", document.baseURI);
const KEY = "box-office-session";
let session = JSON.parse(sessionStorage.getItem(KEY) || "null");
let refreshTimer = null;
let refreshing = null;
let onSessionEnded = () => {};

/** An API error: `message` is the answer's Message; `status`, `code`, `body` and `retryAfter` (s). */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body.Message || `The server answered ${status}.`);
    Object.assign(this, { status, code: body.Code, body, retryAfter });
  }
}

export const user = () => session && session.username;

export function whenSessionEnds(callback) {
  onSessionEnded = callback;
}

function claims(jwt) {
  const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part));
}

function keep(tokens, username) {
  const { iat, exp } = claims(tokens.access);
  session = { ...tokens, username, refreshAt: Date.now() + 700 * (exp - iat) };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  schedule();
}

function schedule() {
  clearTimeout(refreshTimer);
  if (!session) return;
  refreshTimer = setTimeout(() => refresh().catch(() => {}), Math.max(0, session.refreshAt - Date.now()));
}

function forget() {
  clearTimeout(refreshTimer);
  session = null;
  sessionStorage.removeItem(KEY);
}

function endSession(reason) {
  forget();
  onSessionEnded(reason);
}

/** Trade the refresh token for a new pair; a 401 ends the session, other failures retry soon. */
export function refresh() {
  if (!refreshing) {
    const username = session.username;
    refreshing = send("POST", "token/refresh/", { refresh: session.refresh })
      .then((tokens) => keep(tokens, username))
      .catch((error) => {
        if (error.status === 401) endSession(`${error.message} Please log in again.`);
        else if (session) setTimeout(() => refresh().catch(() => {}), 5000);
        throw error;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function send(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(new URL(path, BASE), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, { Code: "NetworkError", Message: "The server could not be reached. Check your connection." });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (error) { data = null; }
  if (!response.ok) {
    const retryAfter = Number(response.headers.get("Retry-After")) || undefined;
    throw new ApiError(response.status, data && typeof data === "object" ? data : {}, retryAfter);
  }
  const next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get("Link") || "");
  return next ? Object.assign(data, { next: next[1] }) : data;
}

/** Call the API; with `auth`, as the logged-in user (one refresh and retry after a 401). */
export async function api(method, path, body, { auth = false } = {}) {
  if (!auth) return send(method, path, body);
  if (!session) {
    endSession("Please log in.");
    throw new ApiError(401, { Code: "Unauthorized", Message: "Please log in." });
  }
  try {
    return await send(method, path, body, session.access);
  } catch (error) {
    if (error.status !== 401) throw error;
    await refresh();
    try {
      return await send(method, path, body, session.access);
    } catch (again) {
      if (again.status === 401) endSession(`${again.message} Please log in again.`);
      throw again;
    }
  }
}

/** Every item of a paged list (follows the Link: rel="next" URLs). */
export async function all(path, options) {
  const items = [];
  for (let page = await api("GET", path, undefined, options); ; page = await api("GET", page.next, undefined, options)) {
    items.push(...page);
    if (!page.next) return items;
  }
}

export async function login(username, password) {
  keep(await send("POST", "login/", { username, password }), username);
}

export async function signup(username, password) {
  await send("POST", "signup/", { username, password });
  await login(username, password);
}

/** Revoke this session's refresh token (best effort) and forget both tokens. */
export async function logout() {
  const refreshToken = session && session.refresh;
  forget();
  if (refreshToken) await send("POST", "logout/", { refresh: refreshToken }).catch(() => {});
}

schedule();
