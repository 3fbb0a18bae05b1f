// The door page (issue 19): staff log in, pick a show, and scan. A keyboard-wedge scanner types the
// code and Enter into the always-focused input; each scan answers a large green OK with the seat, or
// a red reason, and the count of admitted tickets goes up. Requests and tokens: the box office's api.js.

import { all, api, login, logout, user, whenSessionEnds } from "../box-office/api.js";

const AUTH = { auth: true };
const $ = (id) => document.getElementById(id);
const clock = (iso) => new Date(iso).toLocaleTimeString("en", { hour: "numeric", minute: "2-digit" });
const when = (iso) => new Date(iso).toLocaleString("en", { weekday: "short", day: "numeric", month: "short",
  hour: "numeric", minute: "2-digit" });
const state = { show: null, admitted: 0, booked: 0, busy: Promise.resolve() };

/** What a refusal means at the door, in a few words. */
const REASONS = {
  AlreadyCheckedIn: (b) => ["Already in", `Checked in at ${clock(b.checked_in_at)}${b.seat_label ? `, seat ${b.seat_label}` : ""}`],
  BookingCancelled: () => ["Cancelled", "This ticket was cancelled"],
  WrongShow: (b) => ["Wrong show", `This ticket is for show ${b.ticket_show}`],
  TooEarly: (b) => ["Too early", `Doors open at ${clock(b.doors_open_at)}`],
  InvalidTicket: () => ["Not valid", "Not a ticket of ours"],
};

function view(id) {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== id;
  $("nav").hidden = !user();
  $("who").textContent = user() ? `Logged in as ${user()}` : "";
}

function showResult(kind, head, detail) {
  $("result").className = `result ${kind}`;
  $("result-head").textContent = head;
  $("result-detail").textContent = detail;
}

function showCount() {
  $("count").textContent = state.show ? `${state.admitted} of ${state.booked} admitted` : "";
}

/** The input keeps the focus, so that the next scan always lands in it (not while choosing a show). */
function refocus() {
  const input = $("code");
  if (!input.disabled && document.activeElement !== $("show")) input.focus();
}

async function openDoor() {
  view("view-door");
  const select = $("show");
  if (select.options.length === 1) {
    try {
      for (const movie of await all("movies/?limit=100")) {
        for (const s of await all(`movies/${movie.id}/shows/?limit=100`)) {
          select.append(new Option(`${movie.title}: ${when(s.date_time)}, ${s.screen_name}`, s.id));
        }
      }
    } catch (failure) {
      $("show-error").textContent = failure.message;
    }
  }
  if (!state.show) select.focus(); // not when a show was picked while the list was loading: scans go on
}

async function pickShow() {
  const id = Number($("show").value) || null;
  $("show-error").textContent = "";
  state.show = id;
  $("code").disabled = !id;
  if (!id) return showCount();
  try {
    const counts = await api("GET", `shows/${id}/check-ins/`, undefined, AUTH);
    Object.assign(state, { admitted: counts.admitted, booked: counts.booked });
    showResult("", "Ready", "Scan a ticket");
  } catch (failure) {
    $("show-error").textContent = failure.status === 403 ? "This account may not check tickets in." : failure.message;
    $("code").disabled = true;
  }
  showCount();
  $("code").focus();
}

async function scan(code) {
  try {
    const ok = await api("POST", "check-in/", { code, show: state.show }, AUTH);
    state.admitted += 1;
    showResult("ok", "OK", `Seat ${ok.seat_label}`);
  } catch (failure) {
    const reason = REASONS[failure.code];
    const [head, detail] = reason ? reason(failure.body) : ["Refused", failure.message];
    showResult("refused", head, detail);
  }
  showCount();
}

$("scan-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const code = $("code").value.trim();
  $("code").value = ""; // ready for the next scan at once
  if (code) state.busy = state.busy.then(() => scan(code)); // scans are answered in the order made
});
$("code").addEventListener("blur", () => setTimeout(refocus, 0));
document.addEventListener("click", () => setTimeout(refocus, 0));
$("show").addEventListener("change", () => pickShow());

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await login($("username").value.trim(), $("password").value);
    $("password").value = "";
    await openDoor();
  } catch (failure) {
    $("login-error").textContent = failure.message;
  }
});
$("logout").addEventListener("click", async () => {
  await logout();
  showLogin("");
});

function showLogin(reason) {
  view("view-login");
  $("login-reason").textContent = reason;
  $("username").focus();
}

whenSessionEnds((reason) => showLogin(reason));
if (user()) openDoor();
else showLogin("");
