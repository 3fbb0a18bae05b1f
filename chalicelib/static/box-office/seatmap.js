// The seat map: the API's answer as rows of seats, drawn once as buttons and updated in place on
// every poll, so that keyboard focus survives a refresh. Taken and held seats stay focusable
// (aria-disabled, not disabled), so that every seat can be reached and named.

const rowName = (i) => (i >= 26 ? rowName(Math.floor(i / 26) - 1) : "") + String.fromCharCode(65 + (i % 26)); // A..Z, AA..
const STATUS_TEXT = { available: "available", held: "held by another customer", taken: "taken", mine: "in your hold" };

/** A new element: `props` are its properties, except "aria-*" and "role", which are attributes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

/** "Row F seat 7" for label "F7" (row letters, then the place in the row); else "Seat <label or number>". */
export function seatName(label, number) {
  const parts = /^([A-Z]+)(\d+)$/.exec(label || "");
  return parts ? `Row ${parts[1]} seat ${parts[2]}` : `Seat ${label || number}`;
}

/** `minor` units of `currency` as text, e.g. 1450 EUR -> "14.50 €": the currency's own decimals, then its symbol. */
export function money(minor, currency) {
  const format = new Intl.NumberFormat("en", { style: "currency", currency, currencyDisplay: "narrowSymbol" });
  const digits = format.resolvedOptions().maximumFractionDigits;
  const symbol = format.formatToParts(0).find((part) => part.type === "currency").value;
  return `${(minor / 10 ** digits).toFixed(digits)} ${symbol}`;
}

/**
 * The map as {rows: [{label, seats: [{number, label, seat, category, status, aisleAfter}]}], categories, currency}.
 * Uses the API's `rows` and `categories` when it sends them; otherwise makes rows of 10 seats from
 * the seat numbers (labels "A1", "B12": row letter and seat number).
 */
export function normalise(map) {
  const categories = map.categories || [];
  let rows;
  if (Array.isArray(map.rows)) {
    rows = map.rows.map((row) => ({
      label: row.label,
      seats: row.seats.map((s, place) => ({ number: s.seat_number, label: s.label, category: s.category, status: s.status, aisleAfter: (row.aisles || []).includes(place + 1) })),
    }));
  } else {
    const status = new Map([...(map.taken || []).map((n) => [n, "taken"]), ...(map.held || []).map((n) => [n, "held"])]);
    rows = [];
    for (let n = 1; n <= map.total_seats; n++) {
      const r = Math.floor((n - 1) / 10);
      rows[r] = rows[r] || { label: rowName(r), seats: [] };
      rows[r].seats.push({ number: n, label: `${rows[r].label}${n}`, category: null, status: status.get(n) || "available" });
    }
  }
  for (const row of rows) {
    for (const seat of row.seats) seat.seat = seat.label.startsWith(row.label) ? seat.label.slice(row.label.length) : seat.label;
  }
  return { rows, categories, currency: map.currency || (categories[0] && categories[0].currency) };
}

export class SeatMap {
  /** `onPick(seat)` is called when a seat is pressed (by click, Enter or Space). */
  constructor(container, onPick) {
    this.container = container;
    this.onPick = onPick;
    this.buttons = new Map(); // seat number -> button
    this.seats = new Map(); // seat number -> {label, row, seat, category, status}
    this.shape = "";
    container.addEventListener("click", (event) => {
      const button = event.target.closest("button.seat");
      if (button) this.onPick(this.seats.get(Number(button.dataset.number)));
    });
    container.addEventListener("keydown", (event) => this.arrowKeys(event));
  }

  /** The category's price as text, or "" when the API names no prices. */
  price(category) {
    const found = this.map.categories.find((c) => c.name === category);
    return found ? money(found.price, found.currency || this.map.currency) : "";
  }

  /** Draw (or update) the map; `selected` and `mine` are Sets of seat numbers. */
  render(map, selected, mine) {
    this.map = map;
    const shape = map.rows.map((r) => `${r.label}:${r.seats.map((s) => s.number).join(",")}`).join("|");
    if (shape !== this.shape) this.build(map, shape);
    for (const row of map.rows) {
      for (const seat of row.seats) {
        const state = mine.has(seat.number) ? "mine" : seat.status;
        const button = this.buttons.get(seat.number);
        this.seats.set(seat.number, { ...seat, row: row.label, state });
        const parts = [`Row ${row.label} seat ${seat.seat}`, seat.category, this.price(seat.category), STATUS_TEXT[state]];
        button.setAttribute("aria-label", parts.filter(Boolean).join(", "));
        const colour = this.map.categories.findIndex((c) => c.name === seat.category);
        button.className = `seat ${colour < 0 ? "cat-none" : `cat-${colour % 6}`} ${state}${seat.category === "accessible" ? " wheelchair" : ""}${seat.aisleAfter ? " aisle-after" : ""}`;
        button.setAttribute("aria-pressed", String(selected.has(seat.number)));
        button.setAttribute("aria-disabled", String(state !== "available"));
      }
    }
  }

  /** One group per row, named "Row F", its label at both ends (hidden: the group is named). */
  build(map, shape) {
    this.shape = shape;
    this.buttons.clear();
    const label = (row) => el("span", { className: "row-label", textContent: row.label, "aria-hidden": "true" });
    this.container.replaceChildren(...map.rows.map((row, r) => el("div", { className: "row", role: "group", "aria-label": `Row ${row.label}` },
      label(row), ...row.seats.map((seat, c) => {
        const button = el("button", { type: "button", textContent: seat.seat });
        Object.assign(button.dataset, { number: seat.number, r, c });
        this.buttons.set(seat.number, button);
        return button;
      }), label(row))));
  }

  /** Arrow keys move between seats: left/right along the row, up/down to the nearest seat of the next row. */
  arrowKeys(event) {
    const [dr, dc] = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[event.key] || [];
    const from = event.target.closest("button.seat");
    const row = from && dr !== undefined && this.container.querySelectorAll(".row")[Number(from.dataset.r) + dr];
    if (!row) return;
    const seats = row.querySelectorAll("button.seat");
    event.preventDefault();
    seats[Math.min(Math.max(Number(from.dataset.c) + dc, 0), seats.length - 1)].focus();
  }

  /** The seats' names, e.g. "Row F seat 7, Row F seat 8". */
  describe(numbers) {
    return numbers.map((n) => seatName(this.seats.has(n) && this.seats.get(n).label, n)).join(", ");
  }
}
