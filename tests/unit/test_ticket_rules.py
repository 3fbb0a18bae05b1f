"""The ticket code's layout and the door rules (chalicelib.domain.tickets): pure, no keys involved."""
import json

import pytest
from hypothesis import given, strategies as st

from chalicelib.domain import tickets as rules
from chalicelib.errors import ValidationError

SIGNATURE = bytes(range(64))
fields = st.builds(
    rules.TicketFields,
    key_id=st.integers(0, rules.MAX_KEY_ID),
    show=st.integers(1, 10 ** 8 - 1),
    seat_number=st.integers(1, 9999),
    booking_id=st.text("0123456789abcdef", min_size=27, max_size=27),
)


@given(fields, st.binary(min_size=64, max_size=64))
def test_every_ticket_decodes_to_the_fields_it_was_made_of(ticket, signature):
    decoded = rules.decode(rules.encode(ticket, signature))
    assert decoded.fields == ticket
    assert decoded.signature == signature
    assert decoded.signed == rules.signed_bytes(ticket)


@given(fields)
def test_a_code_is_url_safe_text_without_padding(ticket):
    code = rules.encode(ticket, SIGNATURE)
    assert rules.BASE64URL_TEXT.match(code) and "=" not in code


@given(fields)
def test_every_code_is_under_120_characters(ticket):
    assert len(rules.encode(ticket, SIGNATURE)) <= 115  # show ids below 10**8, seats below 10**4


def test_a_small_show_and_seat_give_a_110_character_code():
    assert len(rules.encode(rules.TicketFields(1, 7, 100, "1a2b3c4d5e6f708192a3b4c5d6e"), SIGNATURE)) == 110


@given(fields, st.binary(min_size=1, max_size=40))
def test_bytes_after_the_fields_are_refused(ticket, extra):
    """A version-1 code (the owner's username after the booking id) is one of these."""
    raw = rules.signed_bytes(ticket) + extra + SIGNATURE
    with pytest.raises(rules.MalformedTicket):
        rules.decode(rules.to_text(raw))


@given(st.binary(max_size=200))
def test_any_bytes_either_decode_or_are_refused_as_malformed(raw):
    try:
        rules.decode(rules.to_text(raw))
    except rules.MalformedTicket:
        pass


@given(st.text(max_size=200))
def test_any_text_either_decodes_or_is_refused_as_malformed(text):
    try:
        rules.decode(text)
    except rules.MalformedTicket:
        pass


@given(fields)
def test_a_second_spelling_of_the_same_bytes_is_refused(ticket):
    code = rules.encode(ticket, SIGNATURE)
    raw = rules.from_text(code)
    padded = code + "=" * (-len(code) % 4)
    assert rules.to_text(raw) == code
    if len(raw) % 3:  # the last character carries unused bits: setting one is another spelling
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        last = alphabet.index(code[-1])
        twin = code[:-1] + alphabet[last | 1]
        if twin != code:
            with pytest.raises(rules.MalformedTicket):
                rules.from_text(twin)
    if padded != code:
        with pytest.raises(rules.MalformedTicket):
            rules.from_text(padded)


def test_a_varint_in_a_longer_form_than_needed_is_refused():
    assert rules.decode_varint(b"\x05", 0) == (5, 1)
    with pytest.raises(rules.MalformedTicket):
        rules.decode_varint(b"\x85\x00", 0)


@given(st.integers(0, 2 ** 32))
def test_varints_round_trip(number):
    raw = rules.encode_varint(number)
    assert rules.decode_varint(raw, 0) == (number, len(raw))


@pytest.mark.parametrize("version", [0, 1, rules.FORMAT_VERSION + 1, 255])
def test_an_unknown_format_version_is_refused(version):
    raw = bytearray(rules.from_text(rules.encode(rules.TicketFields(1, 1, 1, "0" * 27), SIGNATURE)))
    raw[0] = version
    with pytest.raises(rules.MalformedTicket):
        rules.decode(rules.to_text(bytes(raw)))


# --- doors -------------------------------------------------------------------------------------

def test_doors_open_the_given_minutes_before_the_start():
    starts = 1_800_000_000
    assert rules.too_early(starts, starts - 3601, 60)
    assert not rules.too_early(starts, starts - 3600, 60)
    assert not rules.too_early(starts, starts + 600, 60)  # latecomers are let in
    assert rules.too_early(starts, starts - 601, 10)


# --- the key ring ------------------------------------------------------------------------------

SEED = rules.to_text(bytes(32))
PUBLIC = rules.to_text(bytes([1]) * 32)


def test_a_key_ring_lists_the_signing_key_and_the_previous_ones():
    ring = rules.parse_keyring(json.dumps({"current": 2, "keys": {"2": {"private": SEED}, "1": {"public": PUBLIC}},
                                           "retired": [0]}))
    assert ring.current == 2 and ring.accepted_ids() == [1, 2] and ring.retired == {0}
    assert rules.parse_keyring(ring.to_json()) == ring
    assert rules.next_key_id(ring) == 3


@pytest.mark.parametrize("ring", [
    "not json",
    {"keys": {}},
    {"current": 1, "keys": {"1": {"public": PUBLIC}}},  # the current key cannot sign
    {"current": 1, "keys": {"1": {"private": "short"}}},
    {"current": 1, "keys": {"1": {"private": SEED, "public": PUBLIC}}},
    {"current": 256, "keys": {"256": {"private": SEED}}},
    {"current": "01", "keys": {"01": {"private": SEED}}},
    {"current": 1, "keys": {"1": {"private": SEED}}, "retired": [1]},
])
def test_a_broken_key_ring_is_refused_with_a_reason(ring):
    with pytest.raises(ValidationError):
        rules.parse_keyring(ring if isinstance(ring, str) else json.dumps(ring))
