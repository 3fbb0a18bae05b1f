"""The box-office page (issue 14): pick a show, see its seat map, hold seats, confirm, manage bookings.

Plain HTML, CSS and JavaScript modules, committed under ``chalicelib/static/box-office/`` (unlike the
generated parts of ``static/``), served by the app itself. The page calls this API by URLs relative to
itself (``../movies/``, ``../shows/1/seats/``), so it works at ``/box-office/`` under ``chalice local``
and at ``/<stage>/box-office/`` behind API Gateway. Its Content-Security-Policy allows nothing but this
origin: no inline script or style, no other host, no framing.
"""
import functools
import os

from chalice import Response

from chalicelib import errors

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

# Scripts, styles and API calls from this origin only; the page sets no inline styles (it only toggles
# classes), so styles need no 'unsafe-inline' either. The favicon is an empty data: URL.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class StaticPage:
    """A page of plain files under ``chalicelib/static/<folder>/``: ``index.html`` at ``/<folder>/``
    with the strict CSP above, and its listed files (served name -> Content-Type); anything else is
    a 404. The box office is one; the door page (chalicelib.door) another."""

    def __init__(self, folder: str, assets: dict):
        self.folder = folder
        self.page_dir = os.path.join(STATIC_DIR, folder)
        self.assets = assets

    def page_response(self, request):
        """index.html; without the trailing slash, a redirect to it (relative URLs need the slash)."""
        full_path = ((getattr(request, "context", None) or {}).get("path") or request.path or "")
        if not full_path.endswith("/"):
            return Response(body="", status_code=301,
                            headers={"Location": f"{self.folder}/", "Cache-Control": "no-cache"})
        return Response(body=_read(self.page_dir, "index.html"), status_code=200, headers=dict(PAGE_HEADERS))

    def asset_response(self, name):
        """One of the page's files; they change with the app, so browsers revalidate them."""
        if name not in self.assets:
            raise errors.NotFound(f"No file {name!r} here.")
        return Response(body=_read(self.page_dir, name), status_code=200,
                        headers={"Content-Type": self.assets[name], "Cache-Control": "no-cache"})


@functools.lru_cache(maxsize=32)
def _read(folder, name):
    with open(os.path.join(folder, name), encoding="utf-8") as handle:
        return handle.read()


# The box office's files (served name -> Content-Type).
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "seatmap.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
BOX_OFFICE = StaticPage("box-office", ASSETS)
PAGE_DIR = BOX_OFFICE.page_dir
page_response = BOX_OFFICE.page_response
asset_response = BOX_OFFICE.asset_response
