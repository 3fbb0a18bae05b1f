// The box office: log in -> movies -> a movie's shows by date -> the seat map -> a hold with a
// countdown -> confirm -> the bookings -> My bookings. Views are <section>s of index.html chosen by
// the URL's hash (#/movies/1/shows/5), so the back button works and a stage prefix does not matter.

import { all, api, login, logout, signup, user, whenSessionEnds } from "./api.js";
import { SeatMap, el, money, normalise, seatName } from "./seatmap.js";

const POLL_MS = 3000; // the seat map refreshes itself this often while the page is visible
const AUTH = { auth: true };
const $ = (id) => document.getElementById(id);
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const dateText = (iso) => new Date(iso).toLocaleDateString("en", { weekday: "long", day: "numeric", month: "long" });
const timeText = (iso) => new Date(iso).toLocaleTimeString("en", { hour: "numeric", minute: "2-digit" });
const showText = (s) => `${dateText(s.date_time)}, ${timeText(s.date_time)}, ${s.screen_name}`;

/** Show `error` (an ApiError, a text, or "" to clear) in `node`; a 429 or 503 also says how long to wait. */
function say(node, error) {
  const s = error && error.retryAfter;
  const wait = s ? ` Try again in ${s < 90 ? plural(s, "second", "seconds") : plural(Math.ceil(s / 60), "minute", "minutes")}.` : "";
  node.textContent = typeof error === "string" ? error : error.message + wait;
}

const cache = { movies: null, shows: new Map() };
const movies = async () => (cache.movies = cache.movies || (await all("movies/?limit=100")));
const shows = async (id) => cache.shows.get(id) || cache.shows.set(id, await all(`movies/${id}/shows/?limit=100`)).get(id);

let show = null; // the show being looked at: {id, movie, info, map, limit, selected, hold, poll, tick}
let booked = null; // the last confirmation, for #/booked
let returnTo = "#/movies";
const seatMap = new SeatMap($("seat-map"), pick);

// --- views and navigation --------------------------------------------------------------------

function showView(id, title) {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== id;
  document.title = `${title} — Box office`;
  for (const error of $(id).querySelectorAll(":scope > .error")) say(error, "");
  $(id).querySelector("h1").focus();
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  leaveShow();
  $("nav").hidden = !user();
  $("who").textContent = user() ? `Logged in as ${user()}` : "";
  if (!user()) {
    returnTo = location.hash || "#/movies";
    return showLogin("");
  }
  const [page, id, sub, subId] = location.hash.replace(/^#\/?/, "").split("/");
  try {
    if (page === "movies" && sub === "shows" && subId) await openShow(Number(id), Number(subId));
    else if (page === "movies" && id) await openMovie(Number(id));
    else if (page === "my-bookings") await openBookings();
    else if (page === "booked" && booked) openBooked();
    else await openMovies();
  } catch (error) {
    const place = document.querySelector("main > section:not([hidden]) > .error");
    if (error.status !== 401 && place) say(place, error);
  }
}

window.addEventListener("hashchange", route);
whenSessionEnds((reason) => {
  route(); // to the login view (no user now), which brings the user back here afterwards
  say($("login-reason"), reason);
});

// --- log in, sign up, log out ----------------------------------------------------------------

function showLogin(reason) {
  showView("view-login", "Log in");
  say($("login-reason"), reason);
  $("username").focus();
}

$("auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = { username: $("username"), password: $("password") };
  for (const name of ["username", "password", "auth"]) say($(`${name}-error`), "");
  for (const input of Object.values(fields)) input.removeAttribute("aria-invalid");
  try {
    await (event.submitter && event.submitter.value === "signup" ? signup : login)(fields.username.value.trim(), fields.password.value);
    fields.password.value = "";
    say($("login-reason"), "");
    go(returnTo);
  } catch (error) { // shown by the field at fault, if the answer names one
    const named = error.code === "UsernameTaken" ? "username" : error.body && error.body.field;
    say($(`${fields[named] ? named : "auth"}-error`), error);
    if (fields[named]) fields[named].setAttribute("aria-invalid", "true");
  }
});

$("logout").addEventListener("click", async () => {
  await logout();
  go((returnTo = "#/movies"));
});

// --- movies and shows -------------------------------------------------------------------------

async function openMovies() {
  showView("view-movies", "Movies");
  $("movie-list").replaceChildren(...(await movies()).map((movie) => el("li", {},
    el("a", { href: `#/movies/${movie.id}`, textContent: movie.title }),
    el("span", { className: "meta", textContent: ` ${movie.duration_minutes} min` }))));
}

async function openMovie(movieId) {
  showView("view-shows", "Shows");
  const movie = (await movies()).find((m) => m.id === movieId);
  $("shows-title").textContent = movie ? `${movie.title}: shows` : "Shows";
  const byDay = new Map();
  for (const s of [...(await shows(movieId))].sort((a, b) => a.date_time.localeCompare(b.date_time))) {
    byDay.set(dateText(s.date_time), [...(byDay.get(dateText(s.date_time)) || []), s]);
  }
  $("show-days").replaceChildren(...[...byDay].map(([day, list]) => el("section", {}, el("h2", { textContent: day }),
    el("ul", { className: "times" }, ...list.map((s) => el("li", {},
      el("a", { href: `#/movies/${movieId}/shows/${s.id}`, textContent: timeText(s.date_time) },
        el("span", { className: "meta", textContent: ` ${s.screen_name}, ${s.total_seats} seats` }))))))));
  if (!byDay.size) $("show-days").replaceChildren(el("p", { textContent: "No shows are scheduled." }));
}

// --- the seat map -----------------------------------------------------------------------------

async function openShow(movieId, showId) {
  showView("view-show", "Seats");
  const movie = (await movies()).find((m) => m.id === movieId);
  const info = (await shows(movieId)).find((s) => s.id === showId);
  $("back-to-shows").href = `#/movies/${movieId}`;
  $("show-title").textContent = movie ? `${movie.title}: choose seats` : "Choose seats";
  $("show-meta").textContent = info ? showText(info) : "";
  for (const id of ["pick-note", "map-error", "hold-error", "best-error", "hold-action-error", "waitlist-note"]) say($(id), "");
  $("join-waitlist").hidden = true;
  const current = (show = { id: showId, movie, info, selected: new Set(), hold: null });
  await refreshMap(true);
  const live = (await api("GET", "my-holds/?limit=20", undefined, AUTH)).find((h) => h.show === showId && h.status === "held");
  const waiting = (await api("GET", "my-waitlist/", undefined, AUTH)).find((e) => e.show === showId);
  if (show !== current) return;
  $("hold-from-waitlist").hidden = !(live && waiting && waiting.offer_hold_id === live.id);
  if (waiting && waiting.status === "waiting") say($("waitlist-note"), `You are number ${waiting.position} on this show's waitlist.`);
  if (live) setHold(live, false);
  else showHold();
  show.poll = setInterval(() => document.visibilityState === "visible" && refreshMap(), POLL_MS);
}

function leaveShow() {
  if (show) [show.poll, show.tick].forEach(clearInterval);
  show = null;
}

document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && show && refreshMap());

/** Fetch the seat map and redraw it; selected seats someone else took meanwhile leave the selection. */
async function refreshMap(first = false) {
  const current = show;
  const answer = await api("GET", `shows/${current.id}/seats/`).catch((error) => {
    if (first) throw error;
    say($("map-error"), error);
  });
  if (!answer || show !== current) return;
  say($("map-error"), "");
  show.map = normalise(answer);
  show.limit = answer.max_seats_per_customer || 10;
  const free = new Set(show.map.rows.flatMap((row) => row.seats.filter((s) => s.status === "available").map((s) => s.number)));
  const lost = [...show.selected].filter((n) => !free.has(n));
  if (lost.length) {
    lost.forEach((n) => show.selected.delete(n));
    say($("hold-error"), `${seatMap.describe(lost)} ${lost.length === 1 ? "was" : "were"} just taken by someone else.`);
  }
  draw();
}

function draw() {
  seatMap.render(show.map, show.selected, new Set(show.hold ? show.hold.seat_numbers : []));
  const { categories, currency } = show.map;
  $("prices").replaceChildren(...categories.map((c, i) => el("li", {},
    el("span", { className: `seat sample available cat-${i % 6}`, "aria-hidden": "true" }),
    ` ${c.name}: ${money(c.price, c.currency || currency)}`)));
  $("legend-wheelchair").hidden = !categories.some((c) => c.name === "accessible");
  if ($("best-category").options.length !== categories.length + 1) {
    $("best-category").replaceChildren(el("option", { value: "", textContent: "any" }),
      ...categories.map((c) => el("option", { value: c.name, textContent: c.name })));
  }
  const chosen = [...show.selected].sort((a, b) => a - b);
  const total = priceOf(chosen.map((n) => seatMap.seats.get(n).category));
  $("selection").textContent = chosen.length
    ? `Selected: ${seatMap.describe(chosen)}${total ? ` (total ${total})` : ""}.` : "No seats selected: press seats on the map.";
  $("hold-selected").disabled = !chosen.length;
}

/** The summed price of seats of these categories, as text, or "" when a price is unknown. */
function priceOf(categoryNames) {
  const found = categoryNames.map((name) => show.map.categories.find((c) => c.name === name));
  if (!found.length || found.some((c) => !c)) return "";
  return money(found.reduce((sum, c) => sum + c.price, 0), found[0].currency || show.map.currency);
}

function pick(seat) {
  say($("pick-note"), "");
  if (show.hold) return say($("pick-note"), "You have seats on hold: confirm or release them to choose others.");
  if (seat.state !== "available") {
    const why = seat.state === "held" ? "held by another customer" : "taken";
    return say($("pick-note"), `${seatMap.describe([seat.number])} is ${why}: choose an available seat.`);
  }
  if (show.selected.has(seat.number)) show.selected.delete(seat.number);
  else if (show.selected.size >= show.limit) return say($("pick-note"), `At most ${show.limit} seats per customer.`);
  else show.selected.add(seat.number);
  draw();
}

// --- holding, extending, confirming -------------------------------------------------------------

$("hold-selected").addEventListener("click", () => makeHold({ seat_numbers: [...show.selected].sort((a, b) => a - b) }, $("hold-error")));

$("best-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const category = $("best-category").value;
  const body = { quantity: Number($("best-quantity").value), ...(category && { category }) };
  makeHold({ ...body, ...($("best-split").checked && { allow_split: true }) }, $("best-error"));
});

// No block of that size: offer the waitlist, which holds the seats for this customer when they come back.
$("join-waitlist").addEventListener("click", () => api("POST", `shows/${show.id}/waitlist/`, show.wanted, AUTH).then((entry) => {
  $("join-waitlist").hidden = true;
  say($("best-error"), "");
  say($("waitlist-note"), `You are number ${entry.position} on the waitlist: when seats come back, they are held for you here.`);
}, (error) => say($("waitlist-note"), error)));

async function makeHold(body, errorNode) {
  for (const id of ["hold-error", "best-error", "pick-note", "waitlist-note"]) say($(id), "");
  $("join-waitlist").hidden = true;
  const current = show;
  try {
    const hold = await api("POST", `shows/${current.id}/holds/`, body, AUTH);
    if (show !== current) return;
    show.selected.clear();
    setHold(hold, true);
  } catch (error) {
    if (show !== current) return;
    say(errorNode, error);
    if (error.body && error.body.Code === "NoAdjacentSeats") {
      show.wanted = { quantity: body.quantity, ...(body.category && { category: body.category }) };
      $("join-waitlist").textContent = `Join the waitlist for ${plural(body.quantity, "seat", "seats")}`;
      $("join-waitlist").hidden = false;
    }
    const taken = (error.body && error.body.taken) || [];
    if (taken.length) { // taken meanwhile: drawn as taken at once, named; the next poll tells held from booked
      show.map.rows.forEach((row) => row.seats.forEach((s) => taken.includes(s.number) && (s.status = "taken")));
      taken.forEach((n) => show.selected.delete(n));
      errorNode.textContent += ` ${seatMap.describe(taken)} ${taken.length === 1 ? "is" : "are"} no longer available: choose another seat.`;
      draw();
    }
    refreshMap();
  }
}

function setHold(hold, focus) {
  show.hold = hold;
  clearInterval(show.tick);
  show.tick = setInterval(tick, 1000);
  tick();
  draw();
  showHold();
  const seats = hold.seats || hold.seat_numbers.map((n) => ({ seat_number: n, category: seatMap.seats.get(n).category }));
  $("hold-seats").replaceChildren(...seats.map((s) => el("li", { textContent: [seatMap.describe([s.seat_number]), s.category,
    s.price !== undefined ? money(s.price, hold.currency) : seatMap.price(s.category)].filter(Boolean).join(", ") })));
  const total = hold.total_price !== undefined ? money(hold.total_price, hold.currency) : priceOf(seats.map((s) => s.category));
  $("hold-total").textContent = total ? `Total: ${total}` : "";
  $("hold-until").textContent = timeText(hold.expires_at);
  $("extend").hidden = !(hold.extensions_left > 0);
  $("extend").textContent = `Extend hold (${plural(hold.extensions_left, "extension", "extensions")} left)`;
  if (focus) $("hold-heading").focus();
}

function showHold() {
  $("hold-panel").hidden = !show.hold;
  $("choose").hidden = !!show.hold;
}

function tick() {
  const left = Math.max(0, Math.ceil((Date.parse(show.hold.expires_at) - Date.now()) / 1000));
  $("countdown").textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  if (!left) endHold("Your hold has expired: the seats are free again. Choose seats again.");
}

function endHold(message) {
  clearInterval(show.tick);
  show.hold = null;
  showHold();
  say($("hold-error"), message);
  say($("hold-action-error"), "");
  refreshMap();
}

async function holdAction(action, then) {
  say($("hold-action-error"), "");
  const current = show;
  try {
    const answer = await api("POST", `holds/${current.hold.id}/${action}/`, undefined, AUTH);
    if (show === current) then(answer);
  } catch (error) {
    if (show !== current) return;
    if (["HoldExpired", "HoldReleased", "HoldConfirmed"].includes(error.code)) endHold(error.message);
    else say($("hold-action-error"), error);
    if (error.code === "HoldExtensionLimit") $("extend").hidden = true;
  }
}

$("extend").addEventListener("click", () => holdAction("extend", (hold) => setHold(hold, false)));
$("release").addEventListener("click", () => holdAction("release", () => endHold("Your seats were released.")));
$("confirm").addEventListener("click", () => holdAction("confirm", (answer) => {
  const names = new Map(answer.bookings.map((b) => [b.seat_number, seatMap.describe([b.seat_number])]));
  booked = { answer, names, movie: show.movie, info: show.info, currency: show.map.currency };
  go("#/booked");
}));

// --- the bookings -------------------------------------------------------------------------------

const bookingPrice = (b, currency) => (b.price !== undefined ? money(b.price, b.currency || currency) : "");

function openBooked() {
  showView("view-booked", "Booked");
  const { answer, names, movie, info, currency } = booked;
  $("booked-show").textContent = [movie && movie.title, info && showText(info)].filter(Boolean).join(" · ");
  $("booked-list").replaceChildren(...answer.bookings.map((b) => el("li", {
    textContent: [names.get(b.seat_number), b.category, bookingPrice(b, currency)].filter(Boolean).join(", ") })));
  const total = answer.total_price !== undefined ? `, total ${money(answer.total_price, answer.currency || currency)}` : "";
  $("booked-total").textContent = `${plural(answer.bookings.length, "seat", "seats")} booked${total}.`;
  showTickets($("booked-tickets"), answer.bookings.map((b) => b.id));
}

// --- tickets (issue 19): a signed QR code per booking, shown at the door ----------------------------

/** One ticket: its QR code (an <img> of the SVG as a data: URL: no inline markup), the seat and the code. */
function ticketCard(ticket) {
  const seat = seatName(ticket.seat_label, ticket.seat_number);
  const qr = el("img", { className: "qr", src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(ticket.qr_svg)}`,
    alt: `QR code of the ticket for ${seat}` });
  const when = ticket.date_time ? showText(ticket) : "";
  return el("li", { className: "ticket card" }, qr,
    el("p", { className: "ticket-seat", textContent: seat }),
    el("p", { textContent: [ticket.movie_title, when].filter(Boolean).join(" · ") }),
    el("p", { className: "ticket-code" }, "Code: ", el("code", { textContent: ticket.code })));
}

/** Fetch and show the tickets of `bookingIds` in the list `node` (a failure is said in its place). */
async function showTickets(node, bookingIds) {
  node.replaceChildren();
  for (const id of bookingIds) {
    try {
      node.append(ticketCard(await api("GET", `bookings/${id}/ticket/`, undefined, AUTH)));
    } catch (failure) {
      const item = el("li", { className: "error" });
      say(item, failure);
      node.append(item);
    }
  }
}

async function openBookings() {
  showView("view-bookings", "My bookings");
  $("ticket-panel").hidden = true;
  const bookings = await all("my-bookings/?limit=100", AUTH);
  const titles = new Map((await movies()).map((m) => [m.id, m.title]));
  const showsById = new Map();
  for (const movieId of new Set(bookings.map((b) => b.movie_id).filter(Boolean))) {
    for (const s of await shows(movieId)) showsById.set(s.id, s);
  }
  $("no-bookings").hidden = bookings.length > 0;
  $("booking-table").hidden = !bookings.length;
  $("booking-rows").replaceChildren(...bookings.map((b) => {
    const when = showsById.has(b.show) ? showText(showsById.get(b.show)) : `Show ${b.show}`;
    const seat = seatName(b.seat_label, b.seat_number);
    const status = el("td", { textContent: b.status });
    const action = el("td");
    if (b.status === "booked") {
      const button = el("button", { type: "button", className: "secondary", textContent: "Cancel",
        "aria-label": `Cancel ${seat}, ${[titles.get(b.movie_id), when].filter(Boolean).join(", ")}` });
      const error = el("span", { className: "error" });
      const show = el("button", { type: "button", className: "secondary", textContent: "Ticket",
        "aria-label": `Ticket for ${seat}, ${[titles.get(b.movie_id), when].filter(Boolean).join(", ")}` });
      button.addEventListener("click", () => api("POST", `bookings/${b.id}/cancel/`, undefined, AUTH).then((answer) => {
        status.textContent = answer.status;
        button.remove();
        show.remove();
      }, (failure) => say(error, failure)));
      show.addEventListener("click", async () => {
        $("ticket-panel").hidden = false;
        await showTickets($("my-tickets"), [b.id]);
        $("ticket-heading").focus();
      });
      action.append(show, " ", button, error);
    }
    return el("tr", {}, el("td", { textContent: titles.get(b.movie_id) || "" }), el("td", { textContent: when }),
      el("td", { textContent: [seat, b.category].filter(Boolean).join(", ") }), el("td", { textContent: bookingPrice(b) }),
      status, action);
  }));
  const entries = await all("my-waitlist/", AUTH);
  for (const movieId of new Set(entries.map((e) => e.movie_id))) (await shows(movieId)).forEach((s) => showsById.set(s.id, s));
  $("waitlist-panel").hidden = !entries.length;
  $("waitlist-rows").replaceChildren(...entries.map((e) => {
    const info = showsById.get(e.show) || {};
    const name = [titles.get(e.movie_id), info.date_time ? showText(info) : `Show ${e.show}`].filter(Boolean).join(", ");
    const state = e.status === "offered" ? `seats held for you until ${timeText(e.offered_until)}: ` : `waiting, number ${e.position}`;
    const leave = el("button", { type: "button", className: "secondary", textContent: "Leave", "aria-label": `Leave the waitlist of ${name}` });
    leave.addEventListener("click", () => api("DELETE", `shows/${e.show}/waitlist/`, undefined, AUTH).then(() => leave.parentElement.remove()));
    const item = el("li", { textContent: `${name}: ${plural(e.quantity, "seat", "seats")}, ${state}` }, " ", leave);
    if (e.status === "offered") leave.before(el("a", { href: `#/movies/${e.movie_id}/shows/${e.show}`, textContent: "confirm them" }), " ");
    return item;
  }));
}

route();
