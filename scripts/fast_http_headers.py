"""A faster ``http.client.parse_headers`` for the local stack's two servers (local DynamoDB endpoint and
`chalice local`), which parse HTTP headers on every request they serve and every response boto3 reads.

The standard library hands each header block to ``email.parser``'s feed parser, which is general
enough for whole MIME messages: py-spy puts it at about 12 % of `chalice local`'s CPU and 8 % of the
endpoint's in `make bench-throughput`; the eight headers of a DynamoDB response take 28 us that way
and 8 us here. For the blocks HTTP clients and servers actually send (one ``Name: value`` per line,
no continuation lines, no multipart or message content type) ``parse_headers`` builds the same
``HTTPMessage`` directly: the same lines read by ``http.client._read_headers`` (so the same limits
and errors), each field split as the compat32 policy's ``header_source_parse`` splits it, stored
with ``set_raw`` in order, and an empty payload. Any other block (a folded line, a line without a
field name, a stray line break, a multipart or message type) goes to the standard parser unchanged.
``tests/test_fast_http_headers.py`` compares the two on generated blocks: identical messages.

Local stack only: the deployed function keeps the standard library as it is.
"""
import email.parser
import http.client
import re

__all__ = ["apply", "parse_headers"]

# A field line the feed parser reads as exactly one header: a non-empty name of its headerRE's
# characters, a colon, a value without any character str.splitlines breaks at, one line ending.
_FIELD = re.compile("([\041-\071\073-\176]+):([^\r\n\x0b\x0c\x1c\x1d\x1e\x85]*)\r?\n")
_stock_parse_headers = http.client.parse_headers


def parse_headers(fp, _class=http.client.HTTPMessage):
    """``http.client.parse_headers``, without the feed parser for plain header blocks."""
    lines = http.client._read_headers(fp)
    message = _class()
    for raw in lines:
        if raw in (b"\r\n", b"\n", b""):
            break
        field = _FIELD.fullmatch(raw.decode("iso-8859-1"))
        if field is None:
            return _parse_as_email(lines, _class)
        name, value = field.groups()
        if name.lower() == "content-type" and any(kind in value.lower() for kind in ("multipart", "message")):
            return _parse_as_email(lines, _class)  # the feed parser reads such a body further
        message.set_raw(name, value.lstrip(" \t"))  # compat32's header_source_parse
    message.set_payload("")
    return message


def _parse_as_email(lines, _class):
    return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))


def apply():
    """Use ``parse_headers`` in this process (http.server and http.client look it up on each call)."""
    http.client.parse_headers = parse_headers
