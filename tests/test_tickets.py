"""E-tickets (issue 19): the owner's signed QR ticket, the published keys, and what a forged,
altered or foreign code gets: signature tamper (each byte), wrong key, retired key id."""
import json

import pytest
import segno
from hypothesis import given, settings as settings_of_hypothesis, strategies as st
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chalicelib import settings, ticket_keys
from chalicelib.domain import tickets as rules
from chalicelib.errors import InvalidTicket


@pytest.fixture(autouse=True)
def own_key_ring(tmp_path, monkeypatch):
    """Each test signs with a key ring made in its own folder (LOCAL_DATA_DIR)."""
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path))
    settings.reset()
    ticket_keys.reset()
    yield tmp_path
    ticket_keys.reset()


def book(api, token, seat=5, show=1):
    response = api.post(f"/shows/{show}/book/", {"seat_number": seat}, token=token)
    assert response.status_code == 201, response.body
    return response.data["id"]


def ticket_of(api, token, booking_id):
    response = api.get(f"/bookings/{booking_id}/ticket/", token=token)
    assert response.status_code == 200, response.body
    return response.data


def use_key_ring(folder, text):
    (folder / ticket_keys.LOCAL_KEYRING_FILE).write_text(text)
    ticket_keys.reset()


# --- the ticket --------------------------------------------------------------------------------

def test_the_owner_gets_the_ticket_with_show_seat_and_code(api, alice):
    booking_id = book(api, alice, seat=5)
    ticket = ticket_of(api, alice, booking_id)
    assert {k: ticket[k] for k in ("booking_id", "show", "movie_title", "screen_name", "seat_label", "category")} == {
        "booking_id": booking_id, "show": 1, "movie_title": "Inception", "screen_name": "Screen 1",
        "seat_label": "A5", "category": "standard"}
    assert ticket["date_time"].startswith("20")
    assert ticket["qr_svg"].startswith("<svg")
    fields = ticket_keys.verify(ticket["code"])
    assert (fields.booking_id, fields.show, fields.seat_number) == (booking_id, 1, 5)


def test_the_code_is_under_120_characters_and_fits_a_small_qr_code_at_level_m(api, alice):
    code = ticket_of(api, alice, book(api, alice))["code"]
    assert len(code) < 120
    qr = segno.make(code, error="m", micro=False, boost_error=False)
    assert qr.version <= 7  # 45 x 45 modules


def test_a_40_character_username_gets_a_code_under_120_characters_that_does_not_contain_it(api, demo):
    username = "door_user_3f2a9c1b_" + "x" * 21
    assert len(username) == 40
    token = api.token_for(username)
    code = ticket_of(api, token, book(api, token))["code"]
    assert len(code) < 120
    raw = rules.from_text(code)
    assert username.encode() not in raw and b"door_user" not in raw
    assert len(raw) == 2 + 1 + 1 + rules.BOOKING_ID_BYTES + rules.SIGNATURE_BYTES  # nothing but the fields


def test_svg_format_answers_the_qr_code_alone(api, alice):
    booking_id = book(api, alice)
    response = api.get(f"/bookings/{booking_id}/ticket/?format=svg", token=alice)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.body.decode().startswith('<svg xmlns="http://www.w3.org/2000/svg"')


def test_an_unknown_format_is_400(api, alice):
    booking_id = book(api, alice)
    assert api.get(f"/bookings/{booking_id}/ticket/?format=png", token=alice).status_code == 400


def test_another_customers_booking_has_no_ticket_for_me(api, alice, bob):
    booking_id = book(api, alice)
    response = api.get(f"/bookings/{booking_id}/ticket/", token=bob)
    assert response.status_code == 404 and response.data["Code"] == "NotFound"


def test_an_unknown_booking_has_no_ticket(api, alice):
    assert api.get("/bookings/" + "0" * 27 + "/ticket/", token=alice).status_code == 404
    assert api.get("/bookings/nope/ticket/", token=alice).status_code == 404


def test_a_ticket_needs_a_login(api, alice):
    assert api.get(f"/bookings/{book(api, alice)}/ticket/").status_code == 401


def test_a_cancelled_booking_has_no_ticket(api, alice):
    booking_id = book(api, alice)
    assert api.post(f"/bookings/{booking_id}/cancel/", token=alice).status_code == 200
    response = api.get(f"/bookings/{booking_id}/ticket/", token=alice)
    assert response.status_code == 409 and response.data["Code"] == "BookingCancelled"


def test_the_published_public_key_verifies_a_code_offline(api, alice):
    code = ticket_of(api, alice, book(api, alice))["code"]
    keys = api.get("/tickets/keys/").data["keys"]
    decoded = rules.decode(code)
    key = next(k for k in keys if k["key_id"] == decoded.fields.key_id)
    assert key["algorithm"] == "Ed25519" and key["current"] is True
    Ed25519PublicKey.from_public_bytes(rules.from_text(key["public_key"])).verify(decoded.signature, decoded.signed)


def test_the_local_key_is_generated_once_and_kept(api, alice, own_key_ring):
    first = api.get("/tickets/keys/").data
    ticket_keys.reset()  # a restart
    assert api.get("/tickets/keys/").data == first
    assert (own_key_ring / ticket_keys.LOCAL_KEYRING_FILE).stat().st_mode & 0o077 == 0


# --- forged and altered codes ------------------------------------------------------------------

def test_changing_any_byte_of_a_code_makes_it_invalid(api, alice):
    code = ticket_of(api, alice, book(api, alice))["code"]
    raw = rules.from_text(code)
    for position in range(len(raw)):
        for flip in (0x01, 0x80, 0xFF):
            altered = bytearray(raw)
            altered[position] ^= flip
            with pytest.raises(InvalidTicket):
                ticket_keys.verify(rules.to_text(bytes(altered)))


@settings_of_hypothesis(max_examples=150, deadline=None)
@given(show=st.integers(1, 10 ** 8 - 1), seat=st.integers(1, 9999),
       booking=st.text("0123456789abcdef", min_size=27, max_size=27), data=st.data())
def test_every_single_byte_change_of_any_signed_code_is_refused(show, seat, booking, data):
    code = ticket_keys.sign({"show": show, "seat_number": seat, "booking_id": booking})
    assert ticket_keys.verify(code) == rules.TicketFields(1, show, seat, booking)
    raw = bytearray(rules.from_text(code))
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    raw[position] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(InvalidTicket):
        ticket_keys.verify(rules.to_text(bytes(raw)))


def test_changing_any_character_of_a_code_makes_it_invalid(api, alice):
    code = ticket_of(api, alice, book(api, alice))["code"]
    for position, char in enumerate(code):
        other = "A" if char != "A" else "B"
        with pytest.raises(InvalidTicket):
            ticket_keys.verify(code[:position] + other + code[position + 1:])
    for cut in (code[:-1], code[1:], code + "A"):
        with pytest.raises(InvalidTicket):
            ticket_keys.verify(cut)


def test_a_code_signed_with_another_key_of_the_same_id_is_invalid(api, alice, own_key_ring):
    code = ticket_of(api, alice, book(api, alice))["code"]
    use_key_ring(own_key_ring, ticket_keys.new_keyring())  # a different key, also id 1
    with pytest.raises(InvalidTicket, match="signature"):
        ticket_keys.verify(code)


def test_after_rotation_new_codes_use_the_new_key_and_old_codes_stay_valid(api, alice, own_key_ring):
    booking_id = book(api, alice)
    old_code = ticket_of(api, alice, booking_id)["code"]
    path = own_key_ring / ticket_keys.LOCAL_KEYRING_FILE
    use_key_ring(own_key_ring, ticket_keys.new_keyring(path.read_text()))
    assert ticket_keys.verify(old_code).key_id == 1
    new_code = ticket_of(api, alice, booking_id)["code"]
    assert ticket_keys.verify(new_code).key_id == 2
    assert [(k["key_id"], k["current"]) for k in api.get("/tickets/keys/").data["keys"]] == [(2, True), (1, False)]


def test_a_code_of_a_retired_key_id_is_invalid(api, alice, own_key_ring):
    old_code = ticket_of(api, alice, book(api, alice))["code"]
    path = own_key_ring / ticket_keys.LOCAL_KEYRING_FILE
    use_key_ring(own_key_ring, ticket_keys.new_keyring(path.read_text(), keep_previous=False))
    with pytest.raises(InvalidTicket, match="retired key id 1"):
        ticket_keys.verify(old_code)
    assert [k["key_id"] for k in api.get("/tickets/keys/").data["keys"]] == [2]


def test_a_code_of_an_unknown_key_id_is_invalid(api, alice):
    code = ticket_of(api, alice, book(api, alice))["code"]
    decoded = rules.decode(code)
    forged = rules.encode(rules.TicketFields(**{**decoded.fields.__dict__, "key_id": 9}), decoded.signature)
    with pytest.raises(InvalidTicket, match="unknown key id 9"):
        ticket_keys.verify(forged)


# --- deployed stages ---------------------------------------------------------------------------

def test_a_deployed_stage_without_the_key_parameter_answers_503_and_makes_no_key(api, alice, own_key_ring,
                                                                                 monkeypatch):
    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.setenv("JWT_SECRET_PARAM", "")
    from chalicelib.settings import get_settings
    settings.reset()
    ticket_keys.reset()
    assert not get_settings().is_local
    with pytest.raises(Exception) as refused:
        ticket_keys.keys()
    assert getattr(refused.value, "code", "") == "ServiceMisconfigured"
    assert not (own_key_ring / ticket_keys.LOCAL_KEYRING_FILE).exists()


def test_the_key_ring_is_read_from_the_ssm_secure_string(aws, monkeypatch):
    import boto3

    ring = ticket_keys.new_keyring()
    boto3.client("ssm").put_parameter(Name="/stack/ticket-keys", Value=ring, Type="SecureString")
    monkeypatch.setenv("TICKET_SIGNING_KEY_PARAM", "/stack/ticket-keys")
    settings.reset()
    ticket_keys.reset()
    seed = rules.parse_keyring(ring).private[1]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    expected = ticket_keys._raw_public(Ed25519PrivateKey.from_private_bytes(seed).public_key())
    assert ticket_keys.public_keys()[0]["public_key"] == rules.to_text(expected)


def test_a_key_ring_in_a_plain_string_parameter_is_refused(aws, monkeypatch):
    import boto3

    boto3.client("ssm").put_parameter(Name="/stack/plain", Value=ticket_keys.new_keyring(), Type="String")
    monkeypatch.setenv("TICKET_SIGNING_KEY_PARAM", "/stack/plain")
    settings.reset()
    ticket_keys.reset()
    with pytest.raises(Exception) as refused:
        ticket_keys.keys()
    assert getattr(refused.value, "code", "") == "ServiceMisconfigured"


def test_the_cli_rotates_a_key_ring(tmp_path):
    import io

    from chalicelib import cli

    out = io.StringIO()
    assert cli.main(["new-ticket-keys"], stdout=out) == 0
    first = rules.parse_keyring(out.getvalue())
    (tmp_path / "ring.json").write_text(out.getvalue())
    out = io.StringIO()
    assert cli.main(["new-ticket-keys", "--rotate", str(tmp_path / "ring.json")], stdout=out) == 0
    second = rules.parse_keyring(out.getvalue())
    assert (first.current, second.current, second.accepted_ids()) == (1, 2, [1, 2])
    assert 1 in second.public and json.loads(out.getvalue())["current"] == 2
