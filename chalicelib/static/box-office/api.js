// The API, called by URLs relative to this page ("../movies/"), so that a stage prefix is kept.
// The tokens live in sessionStorage (this tab only, gone when it closes) and are refreshed with
// POST token/refresh/ at 70 % of the access token's lifetime. One refresh at a time: a refresh
// token is single-use, and presenting a spent one ends the session.

const BASE = new URL("../", document.baseURI);
const KEY = "box-office-session";
let session = JSON.parse(sessionStorage.getItem(KEY) || "null");
let refreshTimer = null;
let refreshing = null;
let onSessionEnded = () => {};

/** An API error: `message` is the answer's Message; also `status`, `code`, `body`, `retryAfter` (s). */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body.Message || `The server answered ${status}.`);
    Object.assign(this, { status, code: body.Code, body, retryAfter });
  }
}

export const user = () => session && session.username;
export const whenSessionEnds = (callback) => { onSessionEnded = callback; };

function keep(tokens, username) {
  const { iat, exp } = JSON.parse(atob(tokens.access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  session = { ...tokens, username, refreshAt: Date.now() + 700 * (exp - iat) };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  schedule();
}

function schedule() {
  clearTimeout(refreshTimer);
  if (session) refreshTimer = setTimeout(() => refresh().catch(() => {}), Math.max(0, session.refreshAt - Date.now()));
}

/** Drop the tokens; with a `reason`, the session has ended (the page then asks to log in again). */
function forget(reason) {
  clearTimeout(refreshTimer);
  session = null;
  sessionStorage.removeItem(KEY);
  if (reason) onSessionEnded(reason);
}

function loggedOut() {
  forget("Please log in.");
  return new ApiError(401, { Code: "Unauthorized", Message: "Please log in." });
}

/** Trade the refresh token for a new pair; a 401 ends the session, other failures retry soon. */
function refresh() {
  if (!session) return Promise.reject(loggedOut());
  if (!refreshing) {
    const username = session.username;
    refreshing = send("POST", "token/refresh/", { refresh: session.refresh })
      .then((tokens) => keep(tokens, username))
      .catch((error) => {
        if (error.status === 401) forget(`${error.message} Please log in again.`);
        else if (session) refreshTimer = setTimeout(() => refresh().catch(() => {}), 5000);
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
  const response = await fetch(new URL(path, BASE), { method, headers, body: body && JSON.stringify(body), cache: "no-store" })
    .catch(() => { throw new ApiError(0, { Code: "NetworkError", Message: "The server could not be reached. Check your connection." }); });
  const text = await response.text();
  const data = (() => { try { return JSON.parse(text); } catch (error) { return null; } })(); // not JSON: the status speaks
  if (!response.ok) {
    throw new ApiError(response.status, data || {}, Number(response.headers.get("Retry-After")) || undefined);
  }
  const next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get("Link") || "");
  return next ? Object.assign(data, { next: next[1] }) : data;
}

/** Call the API; with `auth`, as the logged-in user (after a 401, one refresh and one retry). */
export async function api(method, path, body, { auth = false } = {}) {
  if (!auth) return send(method, path, body);
  if (!session) throw loggedOut();
  try {
    return await send(method, path, body, session.access);
  } catch (error) {
    if (error.status !== 401) throw error;
  }
  await refresh();
  return send(method, path, body, session.access).catch((error) => {
    if (error.status === 401) forget(`${error.message} Please log in again.`);
    throw error;
  });
}

/** Every item of a paged list (following its Link: rel="next" URLs). */
export async function all(path, options) {
  const items = [];
  for (let page = await api("GET", path, undefined, options); ; page = await api("GET", page.next, undefined, options)) {
    items.push(...page);
    if (!page.next) return items;
  }
}

export const login = async (username, password) => keep(await send("POST", "login/", { username, password }), username);
export const signup = async (username, password) => {
  await send("POST", "signup/", { username, password });
  await login(username, password);
};

/** Forget both tokens and revoke this session's refresh token (best effort). */
export async function logout() {
  const token = session && session.refresh;
  forget();
  if (token) await send("POST", "logout/", { refresh: token }).catch(() => {});
}

schedule();
