"""E-tickets (issue 19): a booking's signed ticket code and its QR code, for the booking's owner.

The code is made when asked for (it is a pure function of the booking and the current key, so
nothing is stored); ``chalicelib.ticket_keys`` signs it, ``chalicelib.domain.tickets`` lays it out.
"""
import io

from chalicelib import bookings, ticket_keys
from chalicelib.db import bookings as booking_items, movies as movie_items, shows as show_items
from chalicelib.domain import layout
from chalicelib.domain.seats import CANCELLED
from chalicelib.errors import BookingCancelled, NotFound

QR_ERROR_LEVEL = "m"  # survives a smudged or cracked phone screen (15 % of the modules)
QR_SCALE = 6  # pixels per module in the SVG's own size; it scales without loss anyway
QR_BORDER = 4  # the quiet zone the QR standard asks for


def code_for(booking: dict) -> str:
    """The signed ticket code of a stored booking item."""
    return ticket_keys.sign({"show": booking["show"], "seat_number": booking["seat_number"],
                             "booking_id": booking["id"]})


def qr_svg(code: str, title: str = "Ticket QR code") -> str:
    """The QR code of ``code`` (error correction M, black on white, with its quiet zone) as SVG text."""
    import segno  # deferred: only ticket requests pay for its import

    qr = segno.make(code, error=QR_ERROR_LEVEL, micro=False, boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="svg", xmldecl=False, scale=QR_SCALE, border=QR_BORDER, dark="#000", light="#fff",
            title=title, svgclass=None, lineclass=None)
    return out.getvalue().decode("utf-8")


def ticket(caller: str, booking_id: str) -> dict:
    """The caller's ticket for one booking: GetItem booking (consistent), the show (cached for 30 s
    by this process), GetItem movie and GetItem of the seat lock (``checked_in_at`` once let in: the
    door marks the lock, not the booking). 404 for no such booking of the caller's, 409
    BookingCancelled."""
    if not bookings.BOOKING_ID_PATTERN.match(booking_id or ""):
        raise NotFound("No such booking.")
    booking = booking_items.get(caller, booking_id)
    if booking is None:
        raise NotFound("No such booking.")  # also for other users' bookings
    if booking["status"] == CANCELLED:
        raise BookingCancelled("This booking was cancelled; it has no ticket.", booking_id=booking_id)
    show = show_items.get_recent(booking["show"]) or {}
    movie = movie_items.get(show["movie_id"]) if show.get("movie_id") else None
    seat_label, category = booking.get("seat_label"), booking.get("category")
    if seat_label is None and show:  # a booking made before seating plans: the default plan's label
        details = layout.plan_of_show(show).seat_details(booking["seat_number"])
        seat_label, category = details["seat_label"], details["category"]
    code = code_for(booking)
    answer = {
        "booking_id": booking_id,
        "show": booking["show"],
        "movie_title": (movie or {}).get("title"),
        "date_time": show.get("date_time"),
        "screen_name": show.get("screen_name"),
        "seat_number": booking["seat_number"],
        "seat_label": seat_label,
        "category": category,
        "code": code,
    }
    answer["qr_svg"] = qr_svg(code, title=f"Ticket for seat {seat_label or booking['seat_number']}")
    seat_lock = show_items.seat_lock(booking["show"], booking["seat_number"]) or {}
    if seat_lock.get("booking_id") == booking_id and seat_lock.get("checked_in_at"):
        answer["checked_in_at"] = seat_lock["checked_in_at"]
    return answer


def public_keys() -> dict:
    """``{"keys": [...]}``: every public key a ticket may be signed with (see ticket_keys.public_keys)."""
    return {"keys": ticket_keys.public_keys()}
