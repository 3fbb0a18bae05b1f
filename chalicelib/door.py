"""The door page (issue 19): staff log in, pick a show and scan tickets, on a phone or a box-office
PC with a keyboard-wedge barcode scanner (it types the code and Enter).

Plain files under ``chalicelib/static/door/``, served like the box office (``box_office.StaticPage``:
the same strict Content-Security-Policy, no CDN); the page reuses the box office's ``api.js`` for
requests and tokens, at ``../box-office/api.js``.
"""
from chalicelib.box_office import StaticPage

ASSETS = {
    "door.js": "text/javascript; charset=utf-8",
    "door.css": "text/css; charset=utf-8",
}
DOOR = StaticPage("door", ASSETS)
page_response = DOOR.page_response
asset_response = DOOR.asset_response
