"""The domain's exception hierarchy: every failure a caller can cause, with a stable code.

These classes know nothing about HTTP; ``chalicelib.web`` maps them to status codes in one table.
"""


class BookingAPIError(Exception):
    """Base class: ``code`` is stable and machine-readable, ``message`` is for humans."""

    code = "Error"

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationError(BookingAPIError):
    code = "ValidationError"


class InvalidJSON(ValidationError):
    code = "InvalidJSON"


class InvalidCursor(ValidationError):
    code = "InvalidCursor"


class PayloadTooLarge(BookingAPIError):
    code = "PayloadTooLarge"


class UnsupportedMediaType(BookingAPIError):
    code = "UnsupportedMediaType"


class Unauthenticated(BookingAPIError):
    code = "Unauthorized"


class InvalidCredentials(Unauthenticated):
    code = "InvalidCredentials"


class InvalidToken(Unauthenticated):
    code = "InvalidToken"


class TokenReused(Unauthenticated):
    code = "TokenReused"


class Forbidden(BookingAPIError):
    code = "Forbidden"


class NotFound(BookingAPIError):
    code = "NotFound"


class Conflict(BookingAPIError):
    code = "Conflict"


class UsernameTaken(Conflict):
    code = "UsernameTaken"


class SeatTaken(Conflict):
    code = "SeatTaken"


class SeatAlreadyYours(Conflict):
    """Seats asked for that the caller already holds (in a hold) or has booked."""

    code = "SeatAlreadyYours"


class SeatLimitReached(Conflict):
    """The caller would hold or have booked more seats of the show than it allows."""

    code = "SeatLimitReached"


class NoAdjacentSeats(Conflict):
    """Best-available found no block of the size asked for (in one row, or split when allowed)."""

    code = "NoAdjacentSeats"


class WouldLeaveSingleSeat(Conflict):
    """The show keeps no single empty seats, and this write would leave one (``seat``)."""

    code = "WouldLeaveSingleSeat"


class AlreadyCancelled(Conflict):
    code = "AlreadyCancelled"


class HoldExpired(Conflict):
    code = "HoldExpired"


class HoldReleased(Conflict):
    code = "HoldReleased"


class HoldConfirmed(Conflict):
    code = "HoldConfirmed"


class HoldExtensionLimit(Conflict):
    code = "HoldExtensionLimit"


class ShowStarted(Conflict):
    code = "ShowStarted"


class HasActiveBookings(Conflict):
    code = "HasActiveBookings"


class IdempotencyKeyReused(BookingAPIError):
    code = "IdempotencyKeyReused"


class TooManyAttempts(BookingAPIError):
    """Login locked out; ``retry_after`` is in seconds."""

    code = "TooManyAttempts"

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(BookingAPIError):
    """DynamoDB stayed unavailable after bounded retries, or the service is misconfigured."""

    code = "ServiceUnavailable"

    def __init__(self, message, retry_after=1):
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(ServiceUnavailable):
    code = "ServiceMisconfigured"


# --- e-tickets and door check-in (issue 19) ---------------------------------------------------

class InvalidTicket(ValidationError):
    """A ticket code that is not ours: malformed, a bad signature, or a key id that is not accepted."""

    code = "InvalidTicket"


class AlreadyCheckedIn(Conflict):
    """The ticket was let in before (``checked_in_at`` says when); also refuses cancelling it."""

    code = "AlreadyCheckedIn"


class BookingCancelled(Conflict):
    """The booking behind a ticket was cancelled: no ticket, no entry."""

    code = "BookingCancelled"


class WrongShow(Conflict):
    """The door checks in one show and the ticket is for another (``ticket_show``)."""

    code = "WrongShow"


class TooEarly(Conflict):
    """The doors of the ticket's show are not open yet (``doors_open_at``)."""

    code = "TooEarly"
# --- the waitlist (issue 20) -------------------------------------------------------------------------

class SeatsAvailable(Conflict):
    """A waitlist is for shows where best-available finds no block of that size: hold seats instead."""

    code = "SeatsAvailable"
