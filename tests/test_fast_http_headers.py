"""scripts/fast_http_headers.py parses every header block into the very message the standard library's
``http.client.parse_headers`` makes, and raises as it raises."""
import http.client
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fast_http_headers

NAMES = st.sampled_from(["Host", "Content-Type", "content-length", "X-Amz-Target", "Authorization", "X_Under",
                         "Set-Cookie", "From", "Bad Name", "", "Ünï", "X-Empty"])
VALUES = st.one_of(
    st.sampled_from(["application/x-amz-json-1.0", "multipart/mixed; boundary=x", "message/rfc822", "text/plain",
                     "  padded  ", "", "a:b:c", "keep-alive", "\t tabbed"]),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=12))
ENDINGS = st.sampled_from(["\r\n", "\r\n", "\n", "\r", ""])
LINES = st.one_of(
    st.builds(lambda n, v, e: f"{n}:{v}{e}", NAMES, VALUES, ENDINGS),
    st.builds(lambda v, e: f" {v}{e}", VALUES, ENDINGS),  # a continuation line
    st.sampled_from(["From someone\r\n", "no colon here\r\n", ":empty name\r\n"]))


PLAIN_LINES = st.builds(lambda n, v, e: f"{n}:{v}{e}", st.sampled_from(["Host", "Content-Type", "X-Amz-Target",
                                                                         "x-amz-date", "Content-Length", "X_U"]),
                        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x85"),
                                max_size=20), st.sampled_from(["\r\n", "\n"]))
BLOCKS = st.one_of(st.lists(PLAIN_LINES, max_size=10), st.lists(LINES, max_size=8))


def block(lines, terminator):
    return "".join(lines).encode("iso-8859-1") + terminator


def parsed(parse, raw):
    try:
        message = parse(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return type(exc), str(exc)
    return shape(message)


def shape(message):
    """A message as comparable values: every attribute, with defects and sub-messages by value."""
    payload = message.get_payload()
    return type(message), dict(vars(message), defects=[(type(d), str(d)) for d in message.defects],
                               _payload=[shape(p) for p in payload] if isinstance(payload, list) else payload)


@settings(max_examples=600, deadline=None)
@given(BLOCKS, st.sampled_from([b"\r\n", b"\n", b""]))
def test_every_block_parses_as_the_standard_library_parses_it(lines, terminator):
    raw = block(lines, terminator) + b"body after the headers"
    assert parsed(fast_http_headers.parse_headers, raw) == parsed(fast_http_headers._stock_parse_headers, raw)


def test_plain_blocks_take_the_direct_path_and_odd_ones_the_standard_parser(monkeypatch):
    used = []
    stock = fast_http_headers._parse_as_email
    monkeypatch.setattr(fast_http_headers, "_parse_as_email", lambda *a: used.append(1) or stock(*a))
    plain = b"Host: x\r\nContent-Type: application/json\r\nX-A:  v  \r\n\r\n"
    assert fast_http_headers.parse_headers(io.BytesIO(plain)).items() == [
        ("Host", "x"), ("Content-Type", "application/json"), ("X-A", "v  ")]
    assert used == []
    fast_http_headers.parse_headers(io.BytesIO(b"X-A: v\r\n folded\r\n\r\n"))
    assert used == [1]


def test_limits_are_the_standard_librarys():
    too_many = b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="got more than 100 headers"):
        fast_http_headers.parse_headers(io.BytesIO(too_many))
    with pytest.raises(http.client.LineTooLong):
        fast_http_headers.parse_headers(io.BytesIO(b"X: " + b"v" * 70000 + b"\r\n\r\n"))
