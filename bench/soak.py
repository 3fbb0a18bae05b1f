"""`make soak`: many clients book, cancel and browse for a while; then the table is audited.

Starts the local stack (bench/stack.py), signs up USERS users and creates SHOWS shows of SEATS seats,
then runs CLIENTS threads (client i acts as user i % USERS, so several clients share each user) for
SECONDS seconds of mixed traffic: single-seat and group bookings (some with an Idempotency-Key,
some replayed), cancels of the user's known bookings, holds of named seats and best-available holds,
extends, confirms and releases of the user's holds (holds last SOAK_HOLD_SECONDS, 3 s, so many
expire), show lists, seat maps and my-bookings.
Every 2xx a client saw is recorded (booking ids, seats, cancels), and every request whose outcome the
client could not know (5xx or no response).

Then the table itself is read with Queries (seat locks per show, bookings per user, the per-show
bookings index) and audited:
  - every seat has at most one active booking;
  - every seat lock names a booked booking of that show, seat and user, and every booked booking
    holds its seat lock;
  - every booking a client saw created exists; every cancel a client saw is cancelled and no longer
    holds the seat; a seen booking never seen cancelled is still booked;
  - nothing is in the table that no client saw (unless a request's outcome was unknown);
  - group bookings are all or nothing; idempotent replays returned the first response;
  - no seat is ever held or booked twice at the same time (no two of the holds' and bookings'
    lifetimes on a seat, from the table, certainly overlap: a start is known to lie between the
    app's stamp and the client's answer), every hold lock belongs to a live hold, and no expired
    hold turned into a booking (a confirm's bookings were made before the hold's expiry, one per
    held seat);
  - no HTTP 500 and no unexpected status; a 503 (DynamoDB still busy after bounded retries) must
    carry Retry-After and a request id, and its outcome counts as unknown.
Prints the audit and throughput; exits 1 if any check fails.

Settings (arguments or environment): --clients/SOAK_CLIENTS (64), --seconds/SOAK_SECONDS (60),
--users/SOAK_USERS (16), --shows/SOAK_SHOWS (4), --seats/SOAK_SEATS (40), --seed/SOAK_SEED (1), --hold-seconds/SOAK_HOLD_SECONDS (3),
--json PATH (default build/bench/soak-results.json),
--inject-faults (corrupt the table before the audit, to see the audit fail).
"""
import argparse
import collections
import json
import os
import random
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [BENCH]

from stack import LocalStack, TransportError, extra_movie, latency_summary, table_item_count  # noqa: E402

SOAK_MOVIE = 800
FIRST_SHOW = 8001
WINDOW_SECONDS = 10

# Traffic mix: (operation, weight).
MIX = [("book", 25), ("book group", 8), ("cancel", 18), ("hold", 10), ("hold best", 5), ("extend", 3),
       ("confirm", 7), ("release", 4), ("list shows", 7), ("seat map", 7), ("my-bookings", 6)]
IDEMPOTENT_SHARE = 0.15  # of bookings and cancels sent with an Idempotency-Key
REPLAY_SHARE = 0.5  # of those, sent a second time with the same key and body


class Ledger:
    """What the clients saw, shared by all client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.created = {}  # booking id -> {"user", "show", "seat", "group_id"}
        self.cancelled = set()  # ids a client saw cancelled (200)
        self.active = collections.defaultdict(set)  # user -> ids believed active (to pick cancels from)
        self.unknown_books = []  # (user, show, seats) of book requests with unknown outcome
        self.book_requests = collections.defaultdict(list)  # (user, show, seat) -> [(status, code), ...]
        self.unknown_cancels = set()  # ids of cancel requests with unknown outcome
        self.cancel_conflicts = collections.defaultdict(list)  # id -> seconds of each 409 AlreadyCancelled
        self.groups = {}  # group id -> number of seats requested
        self.holds = {}  # hold id -> {"user", "show", "seats"} of holds a client saw made
        self.active_holds = collections.defaultdict(set)  # user -> hold ids to extend, confirm or release
        self.confirmed = {}  # hold id -> booking ids a confirm answered
        self.released = set()
        self.unknown_holds = []  # (user, show) of hold requests with unknown outcome
        self.replay_mismatches = []
        self.unexpected = []  # (operation, status, body)
        self.calls = collections.defaultdict(list)  # operation -> [(finished at, seconds, status)]

    def record_call(self, operation, reply, finished):
        with self.lock:
            self.calls[operation].append((finished, reply.seconds if reply else None,
                                          reply.status if reply else "no response"))

    def saw_bookings(self, user, views, group_size=None, group_id=None):
        with self.lock:
            for view in views:
                self.created.setdefault(view["id"], {
                    "user": user, "show": view["show"], "seat": view["seat_number"],
                    "group_id": view.get("group_id"), "answered_at": time.time()})
                if view["id"] not in self.cancelled:
                    self.active[user].add(view["id"])
            if group_size and group_id:
                self.groups[group_id] = group_size

    def saw_cancel(self, user, booking_id):
        with self.lock:
            self.cancelled.add(booking_id)
            self.active[user].discard(booking_id)

    def forget(self, user, booking_id):
        with self.lock:
            self.active[user].discard(booking_id)

    def pick_active(self, user, rng, holds=False):
        with self.lock:
            ids = sorted(self.active_holds[user] if holds else self.active[user])
        return rng.choice(ids) if ids else None

    def saw_hold(self, user, view):
        with self.lock:
            self.holds.setdefault(view["id"], {"user": user, "show": view["show"], "seats": view["seat_numbers"],
                                               "answered_at": time.time()})
            if view["id"] not in self.confirmed and view["id"] not in self.released:
                self.active_holds[user].add(view["id"])

    def hold_done(self, user, hold_id, confirmed=None, released=False):
        with self.lock:
            self.active_holds[user].discard(hold_id)
            if confirmed is not None:
                self.confirmed[hold_id] = confirmed
            if released:
                self.released.add(hold_id)


class Client:
    """One client thread's behaviour."""

    def __init__(self, index, http, user, token, shows, seats, ledger, seed):
        self.index, self.http, self.user, self.token = index, http, user, token
        self.shows, self.seats, self.ledger = shows, seats, ledger
        self.rng = random.Random(seed * 1000 + index)
        self.sequence = 0

    def run(self, deadline):
        operations = [op for op, _ in MIX]
        weights = [w for _, w in MIX]
        while time.monotonic() < deadline:
            operation = self.rng.choices(operations, weights)[0]
            getattr(self, operation.replace(" ", "_").replace("-", "_"))()

    def call(self, operation, method, path, body=None, headers=None):
        try:
            reply = self.http.request(method, path, body=body, token=self.token, headers=headers)
        except TransportError:
            reply = None
        self.ledger.record_call(operation, reply, time.monotonic())
        return reply

    def unexpected(self, operation, reply):
        with self.ledger.lock:
            self.ledger.unexpected.append((operation, reply.status, reply.data))

    def overloaded(self, operation, reply):
        """True for the API's answer to an exhausted DynamoDB: 503 with Retry-After and a request id.

        That is the documented behaviour under overload (counted, not a failure); any other 5xx is.
        """
        if reply.status != 503:
            return False
        if not reply.headers.get("retry-after") or not (reply.data or {}).get("request_id"):
            self.unexpected(operation + " (503 without Retry-After or request_id)", reply)
        return True

    def _idempotency_key(self):
        if self.rng.random() >= IDEMPOTENT_SHARE:
            return None
        self.sequence += 1
        return f"soak-{self.index}-{self.sequence}"

    # --- operations ------------------------------------------------------------------------

    def book(self, group=False):
        show = self.rng.choice(self.shows)
        if group:
            seats = sorted(self.rng.sample(range(1, self.seats + 1), self.rng.randint(2, 4)))
            body = {"seat_numbers": seats}
        else:
            seats = [self.rng.randint(1, self.seats)]
            body = {"seat_number": seats[0]}
        key = self._idempotency_key()
        headers = {"Idempotency-Key": key} if key else None
        operation = "book group" if group else "book"
        reply = self.call(operation, "POST", f"/shows/{show}/book", body, headers)
        self._booked(operation, show, seats, group, reply)
        if key and reply is not None and reply.status in (200, 201) and self.rng.random() < REPLAY_SHARE:
            again = self.call(operation + " (replay)", "POST", f"/shows/{show}/book", body, headers)
            self._booked(operation, show, seats, group, again)
            if again is not None and again.status < 500 and (
                    again.status != reply.status or _ids(again.data) != _ids(reply.data)):
                with self.ledger.lock:
                    self.ledger.replay_mismatches.append((operation, reply.status, again.status))

    def book_group(self):
        self.book(group=True)

    def _booked(self, operation, show, seats, group, reply):
        with self.ledger.lock:
            for seat in seats:
                self.ledger.book_requests[(self.user, show, seat)].append(
                    (reply.status if reply else "no response", (reply.data or {}).get("Code") if reply else None,
                     round(reply.seconds, 2) if reply else None))
        if reply is None or reply.status >= 500:
            with self.ledger.lock:
                self.ledger.unknown_books.append((self.user, show, tuple(seats)))
            if reply is not None and not self.overloaded(operation, reply):
                self.unexpected(operation, reply)
        elif reply.status in (200, 201):
            views = reply.data["bookings"] if group else [reply.data]
            # A group that includes seats the user had booked before books only the others under
            # its group id (the seats already theirs keep their own bookings).
            made = sum(1 for view in views if group and view.get("group_id") == reply.data["group_id"])
            self.ledger.saw_bookings(self.user, views, made or None, reply.data.get("group_id") if group else None)
        elif reply.status != 409:
            self.unexpected(operation, reply)

    def cancel(self):
        booking_id = self.ledger.pick_active(self.user, self.rng)
        if booking_id is None:
            return self.book()
        key = self._idempotency_key()
        headers = {"Idempotency-Key": key} if key else None
        reply = self.call("cancel", "POST", f"/bookings/{booking_id}/cancel", None, headers)
        self._cancelled(booking_id, reply)
        if key and reply is not None and reply.status == 200 and self.rng.random() < REPLAY_SHARE:
            again = self.call("cancel (replay)", "POST", f"/bookings/{booking_id}/cancel", None, headers)
            self._cancelled(booking_id, again)
            if again is not None and again.status < 500 and (
                    again.status != 200 or _ids(again.data) != _ids(reply.data)):
                with self.ledger.lock:
                    self.ledger.replay_mismatches.append(("cancel", reply.status, again.status))

    def _cancelled(self, booking_id, reply):
        if reply is None or reply.status >= 500:
            with self.ledger.lock:
                self.ledger.unknown_cancels.add(booking_id)
            if reply is not None and not self.overloaded("cancel", reply):
                self.unexpected("cancel", reply)
        elif reply.status == 200:
            self.ledger.saw_cancel(self.user, booking_id)
        elif reply.status == 409 and (reply.data or {}).get("Code") == "AlreadyCancelled":
            self.ledger.forget(self.user, booking_id)  # another client of this user cancelled it
            with self.ledger.lock:
                self.ledger.cancel_conflicts[booking_id].append(round(reply.seconds, 2))
        else:
            self.unexpected("cancel", reply)

    # --- holds ------------------------------------------------------------------------------

    def hold(self, best=False):
        show = self.rng.choice(self.shows)
        if best:
            body = {"quantity": self.rng.randint(1, 4), "allow_split": self.rng.random() < 0.3}
        else:
            body = {"seat_numbers": sorted(self.rng.sample(range(1, self.seats + 1), self.rng.randint(1, 3)))}
        operation = "hold best" if best else "hold"
        reply = self.call(operation, "POST", f"/shows/{show}/holds", body)
        if reply is None or reply.status >= 500:
            with self.ledger.lock:
                self.ledger.unknown_holds.append((self.user, show))
            if reply is not None and not self.overloaded(operation, reply):
                self.unexpected(operation, reply)
        elif reply.status == 201:
            self.ledger.saw_hold(self.user, reply.data)
        elif reply.status != 409:
            self.unexpected(operation, reply)

    def hold_best(self):
        self.hold(best=True)

    def _hold_action(self, action, expected):
        hold_id = self.ledger.pick_active(self.user, self.rng, holds=True)
        if hold_id is None:  # nothing to act on yet: make a hold instead
            self.hold()
            return None, None
        reply = self.call(action, "POST", f"/holds/{hold_id}/{action}")
        if reply is None or reply.status >= 500:
            if reply is not None and not self.overloaded(action, reply):
                self.unexpected(action, reply)
            return None, hold_id
        if reply.status == 409 and (reply.data or {}).get("Code") in (
                "HoldExpired", "HoldReleased", "HoldConfirmed", "HoldExtensionLimit"):
            if reply.data["Code"] != "HoldExtensionLimit":
                self.ledger.hold_done(self.user, hold_id)
            return None, hold_id
        if reply.status not in expected:
            self.unexpected(action, reply)
            return None, hold_id
        return reply, hold_id

    def extend(self):
        self._hold_action("extend", (200,))

    def confirm(self):
        reply, hold_id = self._hold_action("confirm", (200, 201))
        if reply is not None:
            self.ledger.saw_bookings(self.user, reply.data["bookings"], len(reply.data["bookings"]),
                                     reply.data["group_id"])
            self.ledger.hold_done(self.user, hold_id, confirmed=[b["id"] for b in reply.data["bookings"]])

    def release(self):
        reply, hold_id = self._hold_action("release", (200,))
        if reply is not None:
            self.ledger.hold_done(self.user, hold_id, released=True)

    def read(self, operation, path, valid=lambda data: True):
        reply = self.call(operation, "GET", path)
        if reply is None or self.overloaded(operation, reply):
            return
        if reply.status != 200 or not valid(reply.data):
            self.unexpected(operation, reply)

    def list_shows(self):
        self.read("list shows", f"/movies/{SOAK_MOVIE}/shows", lambda data: len(data) == min(len(self.shows), 50))

    def seat_map(self):
        self.read("seat map", f"/shows/{self.rng.choice(self.shows)}/seats",
                  lambda data: len(data["available"]) + len(data["taken"]) + len(data["held"]) == data["total_seats"])

    def my_bookings(self):
        self.read("my-bookings", "/my-bookings", lambda data: all(b["status"] in ("booked", "cancelled") for b in data))


def _ids(data):
    if not isinstance(data, dict):
        return None
    views = data.get("bookings") or [data]
    return sorted(str(v.get("id")) for v in views)


# --- the audit ---------------------------------------------------------------------------------

def read_table(shows, users, holds=None):
    """Seat locks per show, bookings per user (consistent Queries) and per show (GSI1); with a
    ``holds`` dict, the users' hold items go into it too."""
    from chalicelib import keys, storage

    ddb, name = storage.client(), storage.table_name()

    def query(**kwargs):
        items, start = [], None
        while True:
            page = ddb.query(TableName=name, **kwargs, **({"ExclusiveStartKey": start} if start else {}))
            items.extend(map(storage.from_item, page["Items"]))
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    locks, by_user, by_index, queries = {}, {}, {}, 0
    for show in shows:
        seat_prefix = storage.to_item({":pk": keys.show_pk(show), ":seat": keys.SEAT_PREFIX})
        for item in query(KeyConditionExpression="PK = :pk AND begins_with(SK, :seat)", ConsistentRead=True,
                          ExpressionAttributeValues=seat_prefix):
            locks[(show, item["seat_number"])] = item
        for item in query(IndexName=storage.GSI1, KeyConditionExpression="GSI1PK = :pk",
                          ExpressionAttributeValues=storage.to_item({":pk": keys.bookings_of_show_gsi(show)})):
            by_index[item["id"]] = item
        queries += 2
    for user in users:
        for item in query(KeyConditionExpression="PK = :pk AND begins_with(SK, :booking)", ConsistentRead=True,
                          ExpressionAttributeValues=storage.to_item({":pk": keys.user_pk(user),
                                                                     ":booking": keys.BOOKING_PREFIX})):
            by_user[item["id"]] = item
        queries += 1
        if holds is not None:
            for item in query(KeyConditionExpression="PK = :pk AND begins_with(SK, :hold)", ConsistentRead=True,
                              ExpressionAttributeValues=storage.to_item({":pk": keys.user_pk(user),
                                                                         ":hold": keys.HOLD_PREFIX})):
                holds[item["id"]] = item
            queries += 1
    return locks, by_user, by_index, queries


def audit(ledger, locks, bookings, index, holds=None, now=None):
    """[(check, passed, detail)] comparing the table with what the clients saw."""
    checks = []
    holds = holds or {}
    now = time.time() if now is None else now

    def check(name, problems, detail=""):
        problems = list(problems)
        checks.append((name, not problems, f"{len(problems)} problem(s): {problems[:5]}" if problems else detail))

    booked = {i: b for i, b in bookings.items() if b["status"] == "booked"}
    per_seat = collections.Counter((b["show"], b["seat_number"]) for b in booked.values())
    check("every seat has at most one active booking",
          [f"show {s} seat {n}: {c} active" for (s, n), c in per_seat.items() if c > 1],
          f"{len(booked)} active bookings on {len(per_seat)} seats")

    def lock_problem(key, lock):
        if "booking_id" not in lock:  # a hold's lock
            h = holds.get(lock["hold_id"])
            if h is None or key[1] not in h["seat_numbers"] or h["show"] != key[0] or h["user"] != lock["user"]:
                return f"hold lock {key} names hold {lock['hold_id']} that does not hold it"
            if h["status"] == "expired" and lock.get("held_until", 0) <= h["held_until"]:
                return None  # the sweep recorded the hold as expired; its lapsed locks wait for TTL (issue 20)
            if h["status"] != "held":
                return f"hold lock {key} of a {h['status']} hold {h['id']}"
            return None
        b = bookings.get(lock["booking_id"])
        if b is None:
            return f"lock {key} names missing booking {lock['booking_id']}"
        if b["status"] != "booked":
            return f"lock {key} names {b['status']} booking {b['id']}"
        if (b["show"], b["seat_number"], b["user"]) != (key[0], key[1], lock["user"]):
            return f"lock {key} of {lock['user']} names booking of {b['user']} for {(b['show'], b['seat_number'])}"
        return None
    check("every seat lock matches a booked booking, or a hold not yet confirmed or released (held, or recorded "
          "expired by the sweep: a lapsed lock) (same show, seat, user)",
          filter(None, (lock_problem(k, lock) for k, lock in locks.items())), f"{len(locks)} seat locks")
    check("every booked booking holds its seat lock",
          [f"booking {i} ({b['show']}, {b['seat_number']})" for i, b in booked.items()
           if locks.get((b["show"], b["seat_number"]), {}).get("booking_id") != i],
          f"{len(booked)} booked bookings")
    check("the per-show bookings index agrees with the users' partitions",
          [f"{i}: index {index.get(i, {}).get('status')} vs table {bookings.get(i, {}).get('status')}"
           for i in set(index) | set(bookings) if index.get(i, {}).get("status") != bookings.get(i, {}).get("status")],
          f"{len(index)} bookings in the index")

    created, cancelled = ledger.created, ledger.cancelled
    check("every booking a client saw created exists (same user, show, seat)",
          [f"{i}: {seen}" for i, seen in created.items()
           if i not in bookings or (bookings[i]["user"], bookings[i]["show"], bookings[i]["seat_number"])
           != (seen["user"], seen["show"], seen["seat"])],
          f"{len(created)} bookings seen")
    check("every cancel a client saw is cancelled and its seat lock gone (or held by another booking)",
          [f"{i}: status {bookings.get(i, {}).get('status')}" for i in cancelled
           if bookings.get(i, {}).get("status") != "cancelled"
           or locks.get((bookings[i]["show"], bookings[i]["seat_number"]), {}).get("booking_id") == i],
          f"{len(cancelled)} cancels seen")
    check("a booking seen created and never seen cancelled is still booked",
          [f"{i}: {bookings.get(i, {}).get('status')}, its cancels answered 409 AlreadyCancelled after "
           f"{ledger.cancel_conflicts.get(i, [])} s" for i in created
           if i not in cancelled and i not in ledger.unknown_cancels and i in bookings
           and bookings[i]["status"] != "booked"],
          f"{len(ledger.unknown_cancels)} cancels with unknown outcome excluded")
    unknown = {(u, s, seat) for u, s, seats in ledger.unknown_books for seat in seats}
    check("every booking in the table was seen by a client (or its request's outcome was unknown)",
          [f"{i} ({b['user']}, show {b['show']}, seat {b['seat_number']}, created {b['created_at']}): "
           f"that user's requests for that seat answered (status, code, seconds) "
           f"{ledger.book_requests.get((b['user'], b['show'], b['seat_number']))}"
           for i, b in bookings.items() if i not in created and (b["user"], b["show"], b["seat_number"]) not in unknown],
          f"{len(bookings)} bookings in the table, {len(ledger.unknown_books)} book requests with unknown outcome")
    group_sizes = collections.Counter(b.get("group_id") for b in bookings.values() if b.get("group_id"))
    check("group bookings are all or nothing",
          [f"group {g}: {group_sizes.get(g, 0)} of {n} seats" for g, n in ledger.groups.items()
           if group_sizes.get(g, 0) != n],
          f"{len(ledger.groups)} groups seen")
    check("idempotent replays returned the first response", ledger.replay_mismatches)
    check_holds(check, ledger, holds, bookings)
    statuses = collections.Counter(status for calls in ledger.calls.values() for _, _, status in calls)
    check("no HTTP 500 and no unexpected status (503 with Retry-After is the API's overload answer)",
          [f"{op}: {status} {body}" for op, status, body in ledger.unexpected],
          f"statuses: {dict(sorted(statuses.items(), key=str))}")
    return checks


def _epoch(iso):
    import datetime as dt
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def check_holds(check, ledger, holds, bookings):
    """The hold checks of the audit (see the module docstring)."""
    confirmed_by = collections.defaultdict(list)
    for b in bookings.values():
        if b.get("hold_id"):
            confirmed_by[b["hold_id"]].append(b)
    problems = []
    for hold_id, made in confirmed_by.items():
        h = holds.get(hold_id)
        if h is None or h["status"] != "confirmed":
            problems.append(f"bookings {[b['id'] for b in made]} name hold {hold_id}, which is "
                            f"{h['status'] if h else 'missing'}")
        elif sorted(b["seat_number"] for b in made) != sorted(h["seat_numbers"]):
            problems.append(f"hold {hold_id} held {h['seat_numbers']} but booked {[b['seat_number'] for b in made]}")
        elif any(_epoch(b["created_at"]) >= h["held_until"] for b in made):
            problems.append(f"hold {hold_id} expired at {h['held_until']} before its bookings "
                            f"({[b['created_at'] for b in made]})")
    check("no expired hold turned into a booking; a confirm books every held seat once", problems,
          f"{len(confirmed_by)} confirmed holds, {len(holds)} holds in the table")

    # A lifetime's start is known only as a window: the app stamps held_since / created_at before its
    # transaction, which may then wait in the serialised endpoint, and commits before the client has
    # its answer (answered_at, in the client's wall clock, which is the app's). Ends stamped by a
    # cancel, release or confirm are likewise lower bounds of their commit; an expiry is exact. So two
    # lifetimes on a seat certainly overlapped only if both had certainly started before either
    # could have ended.
    lifetimes = collections.defaultdict(list)  # (show, seat) -> [(start, started by, end, what)]
    for h in holds.values():
        end = h["held_until"]
        if h["status"] == "released":
            end = min(end, _epoch(h["released_at"]))
        elif h["status"] == "confirmed":
            made = confirmed_by.get(h["id"]) or []
            end = min([end] + [_epoch(b["created_at"]) for b in made])
        answered = ledger.holds.get(h["id"], {}).get("answered_at", float("inf"))
        for seat in h["seat_numbers"]:
            lifetimes[(h["show"], seat)].append((h["held_since"], answered, end, f"hold {h['id']} of {h['user']}"))
    for b in bookings.values():
        end = _epoch(b["cancelled_at"]) if b["status"] == "cancelled" else float("inf")
        answered = ledger.created.get(b["id"], {}).get("answered_at", float("inf"))
        lifetimes[(b["show"], b["seat_number"])].append((_epoch(b["created_at"]), answered, end, f"booking {b['id']}"))
    overlaps = []
    for seat, spans in lifetimes.items():
        spans.sort()
        for i, (start, started_by, end, what) in enumerate(spans):
            for next_start, next_started_by, next_end, next_what in spans[i + 1:]:
                if max(started_by, next_started_by) < min(end, next_end) - 0.001:  # stamps are to the ms
                    overlaps.append(f"show {seat[0]} seat {seat[1]}: {what} from {start:.3f} (answered by "
                                    f"{started_by:.3f}) until {end:.3f}, and {next_what} from {next_start:.3f} "
                                    f"(answered by {next_started_by:.3f}) until {next_end:.3f}")
    check("no seat is ever held or booked twice at the same time", overlaps,
          f"{sum(len(s) for s in lifetimes.values())} hold and booking lifetimes on {len(lifetimes)} seats")
    check("every hold a client saw made is in the table (same user, show, seats)",
          [f"{i}: {seen}" for i, seen in ledger.holds.items()
           if i not in holds or (holds[i]["user"], holds[i]["show"], holds[i]["seat_numbers"])
           != (seen["user"], seen["show"], seen["seats"])],
          f"{len(ledger.holds)} holds seen, {len(ledger.confirmed)} confirms and {len(ledger.released)} releases")
    check("every confirm a client saw booked what it answered",
          [f"hold {i}: answered {ids}, table has {[b['id'] for b in confirmed_by.get(i, [])]}"
           for i, ids in ledger.confirmed.items() if sorted(ids) != sorted(b["id"] for b in confirmed_by.get(i, []))])


def inject_faults(ledger, shows):
    """Corrupt the table on purpose (--inject-faults), to show that the audit notices.

    Deletes one seat lock of an active booking, puts one cancelled booking back to "booked", and
    writes one booking that no client ever saw. Returns what was done.
    """
    from chalicelib import keys, storage

    ddb, name, done = storage.client(), storage.table_name(), []
    locks, bookings, _, _ = read_table(shows, sorted({b["user"] for b in ledger.created.values()}))
    if locks:
        (show, seat), lock = sorted(locks.items())[0]
        ddb.delete_item(TableName=name, Key=storage.to_item(keys.seat_key(show, seat)))
        done.append(f"deleted the seat lock of show {show} seat {seat}")
    cancelled = [b for b in bookings.values() if b["status"] == "cancelled"]
    if cancelled:
        b = cancelled[0]
        ddb.update_item(TableName=name, Key=storage.to_item(keys.booking_key(b["user"], b["id"])),
                        UpdateExpression="SET #s = :booked", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues=storage.to_item({":booked": "booked"}))
        done.append(f"set cancelled booking {b['id']} back to booked")
    if bookings:
        b = dict(sorted(bookings.items())[0][1])
        ghost = "0" * 11 + "f" * 16
        b.update(id=ghost, status="booked", SK=keys.booking_key(b["user"], ghost)["SK"], GSI1SK=f"BOOKING#{ghost}")
        ddb.put_item(TableName=name, Item=storage.to_item(b))
        done.append(f"wrote booking {ghost} that no client saw")
    return done


# --- main --------------------------------------------------------------------------------------

def main():
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=int(env("SOAK_CLIENTS", 64)))
    parser.add_argument("--seconds", type=float, default=float(env("SOAK_SECONDS", 60)))
    parser.add_argument("--users", type=int, default=int(env("SOAK_USERS", 16)))
    parser.add_argument("--shows", type=int, default=int(env("SOAK_SHOWS", 4)))
    parser.add_argument("--seats", type=int, default=int(env("SOAK_SEATS", 40)))
    parser.add_argument("--seed", type=int, default=int(env("SOAK_SEED", 1)))
    parser.add_argument("--hold-seconds", type=float, default=float(env("SOAK_HOLD_SECONDS", 3)))
    parser.add_argument("--json", default=os.path.join(os.path.dirname(BENCH), "build", "bench", "soak-results.json"),
                        help="where to write the results as JSON (default build/bench/soak-results.json)")
    parser.add_argument("--inject-faults", action="store_true",
                        help="corrupt the table before the audit, to check that the audit fails")
    args = parser.parse_args()
    if not (1 <= args.users <= args.clients and 1 <= args.shows <= 100 and 10 <= args.seats <= 1000):
        parser.error("need 1 <= users <= clients, 1 <= shows <= 100, 10 <= seats <= 1000")

    shows = list(range(FIRST_SHOW, FIRST_SHOW + args.shows))
    users = [f"soak-user-{i:02d}" for i in range(args.users)]
    ledger = Ledger()
    os.environ["HOLD_SECONDS"] = str(args.hold_seconds)  # short holds, so that expiries are part of the mix
    with LocalStack() as stack:
        stack.setup_table([extra_movie(SOAK_MOVIE, shows, total_seats=args.seats, title="Soak")])
        setup = stack.http()
        tokens = {user: setup.signup_and_login(user) for user in users}
        setup.close()
        clients = []
        for i in range(args.clients):
            user = users[i % len(users)]
            clients.append(Client(i, stack.http(), user, tokens[user], shows, args.seats, ledger, args.seed))
        for client in clients:  # open the keep-alive connections before the clock starts
            client.http.get("/movies")
        print(f"soak: {args.clients} clients as {args.users} users, {args.shows} shows x {args.seats} seats, "
              f"{args.seconds:g} s ...", file=sys.stderr, flush=True)
        cpu = stack.cpu_seconds()
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [threading.Thread(target=c.run, args=(deadline,), daemon=True) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        cpu_after = stack.cpu_seconds()
        stack.check_alive()
        for client in clients:
            client.http.close()

        injected = inject_faults(ledger, shows) if args.inject_faults else []
        for fault in injected:
            print(f"injected fault: {fault}", file=sys.stderr)
        audit_started = time.monotonic()
        holds = {}
        locks, bookings, index, queries = read_table(shows, users, holds)
        checks = audit(ledger, locks, bookings, index, holds)
        audit_seconds = time.monotonic() - audit_started
        items = table_item_count()

    results = summarize(args, ledger, elapsed, started, cpu, cpu_after, checks, bookings, locks, items,
                        queries, audit_seconds)
    print(render(results))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return 0 if results["passed"] else 1


def summarize(args, ledger, elapsed, started, cpu, cpu_after, checks, bookings, locks, items, queries, audit_seconds):
    all_calls = [c for calls in ledger.calls.values() for c in calls]
    total = len(all_calls)
    per_operation = []
    for operation, calls in sorted(ledger.calls.items()):
        statuses = collections.Counter(str(status) for _, _, status in calls)
        per_operation.append({"operation": operation, "requests": len(calls),
                              "statuses": dict(sorted(statuses.items())),
                              **latency_summary([s for _, s, _ in calls if s is not None])})
    windows = collections.Counter(int((finished - started) // WINDOW_SECONDS) for finished, _, _ in all_calls)
    rates = []
    for w in range(int(elapsed // WINDOW_SECONDS) + 1):
        length = min(WINDOW_SECONDS, elapsed - w * WINDOW_SECONDS)
        if length >= 1:  # a last sliver of a window says little
            rates.append(round(windows[w] / length, 1))
    return {
        "clients": args.clients, "users": args.users, "shows": args.shows, "seats": args.seats,
        "seconds": round(elapsed, 1), "requests": total,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "req_per_s": round(total / elapsed, 1),
        "ok_2xx": sum(1 for _, _, s in all_calls if isinstance(s, int) and 200 <= s < 300),
        "latency_all": latency_summary([s for _, s, _ in all_calls if s is not None]),
        "per_operation": per_operation,
        "req_per_s_by_window": rates,
        "cpu_seconds": {k: round(cpu_after[k] - cpu[k], 1) for k in cpu if cpu[k] is not None},
        "table": {"items": items, "bookings": len(bookings),
                  "booked": sum(1 for b in bookings.values() if b["status"] == "booked"),
                  "cancelled": sum(1 for b in bookings.values() if b["status"] == "cancelled"),
                  "seat_locks": len(locks)},
        "seen": {"created": len(ledger.created), "cancelled": len(ledger.cancelled),
                 "unknown_books": len(ledger.unknown_books), "unknown_cancels": len(ledger.unknown_cancels),
                 "groups": len(ledger.groups)},
        "audit": {"queries": queries, "seconds": round(audit_seconds, 1),
                  "checks": [{"check": name, "passed": ok, "detail": detail} for name, ok, detail in checks]},
        "passed": all(ok for _, ok, _ in checks),
    }


def render(r):
    lines = [f"Soak: {r['clients']} clients as {r['users']} users on {r['shows']} shows x {r['seats']} seats for "
             f"{r['seconds']} s",
             f"  {r['requests']} requests, {r['req_per_s']} req/s ({r['ok_2xx']} answered 2xx); latency ms "
             f"p50 {r['latency_all']['p50']} p95 {r['latency_all']['p95']} p99 {r['latency_all']['p99']} "
             f"max {r['latency_all']['max']}",
             f"  req/s per {WINDOW_SECONDS} s window: {r['req_per_s_by_window']}",
             f"  CPU seconds used: {r['cpu_seconds']}; load average at the end {r['load_average_at_end']}",
             "",
             "| operation | requests | statuses | p50 ms | p95 ms | p99 ms | max ms |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for op in r["per_operation"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in op["statuses"].items())
        lines.append(f"| {op['operation']} | {op['requests']} | {statuses} | {op['p50']} | {op['p95']} | "
                     f"{op['p99']} | {op['max']} |")
    t, s = r["table"], r["seen"]
    lines += ["",
              f"Table: {t['items']} items; {t['bookings']} bookings ({t['booked']} booked, "
              f"{t['cancelled']} cancelled), "
              f"{t['seat_locks']} seat locks. Clients saw {s['created']} bookings created, {s['cancelled']} cancelled, "
              f"{s['groups']} groups; outcome unknown for {s['unknown_books']} book and {s['unknown_cancels']} "
              f"cancel requests.",
              f"Audit ({r['audit']['queries']} Queries, {r['audit']['seconds']} s):"]
    for c in r["audit"]["checks"]:
        detail = f" — {c['detail']}" if c["detail"] else ""
        lines.append(f"  [{'PASS' if c['passed'] else 'FAIL'}] {c['check']}{detail}")
    lines.append(f"AUDIT {'PASSED' if r['passed'] else 'FAILED'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
