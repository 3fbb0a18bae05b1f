"""The API's documentation, served by the app itself: the OpenAPI document, Swagger UI and ReDoc.

Nothing here reaches another host. ``scripts/build_assets.py`` (``make assets``, which ``make run``,
``make test`` and packaging run first) fills ``chalicelib/static/``, which is generated and not in git:

- ``openapi.json``: ``openapi.yaml`` converted at build time, so the Lambda package needs no YAML parser;
- ``openapi.yaml``: a verbatim copy, served as text;
- ``vendor/``: the files of the pinned swagger-ui-dist and redoc npm packages, with their licences,
  and ``manifest.json`` naming the versions.

The pages use relative URLs only, so they work at ``/swagger/`` under ``chalice local`` and at
``/<stage>/swagger/`` behind API Gateway; the document's ``servers`` URL is rewritten per request to
include that stage prefix, so Swagger UI's "Try it out" calls the API it was loaded from.
"""
import functools
import json
import logging
import os
import re

from chalice import Response

from chalicelib import errors

log = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
VENDOR_DIR = os.path.join(STATIC_DIR, "vendor")
MANIFEST = "manifest.json"

# The `servers` block of openapi.yaml, exactly as written there; scripts/build_assets.py refuses to
# build a document without it, so the per-request rewrite below cannot silently miss.
SERVERS_YAML = "servers:\n  - url: /\n"

YAML_TYPE = "application/yaml; charset=utf-8"
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
JS_TYPE = "text/javascript; charset=utf-8"
CSS_TYPE = "text/css; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"

# Only this app's own files: scripts and styles from 'self', the document fetched from 'self', no
# framing. Both UIs set inline style attributes (and ReDoc injects <style> elements), hence
# 'unsafe-inline' for styles only; ReDoc's search index runs in a worker made from a blob: URL.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
PAGE_HEADERS = {
    "Content-Type": HTML_TYPE,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

_SAFE_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*\Z")


class DocsNotBuilt(errors.ServiceUnavailable):
    """The generated files under chalicelib/static/ are missing: the build step did not run."""

    code = "DocumentationNotBuilt"

    def __init__(self, missing):
        super().__init__(
            "The documentation files are missing from this build: run `make assets` "
            "(scripts/build_assets.py) before serving or packaging the app.", retry_after=3600)
        self.missing = missing


# --- the document ------------------------------------------------------------------------------

def schema_response(request, fmt=None):
    """The OpenAPI document: ``fmt`` "yaml" or "json", or negotiated as /api/schema/ does."""
    if fmt is None:
        fmt = _negotiate_format(request)
    prefix = stage_prefix(request)
    if fmt == "json":
        return Response(body=_json_text(prefix), status_code=200,
                        headers={"Content-Type": JSON_TYPE, "Cache-Control": "no-cache"})
    text = _read_text("openapi.yaml")
    if prefix:
        text = text.replace(SERVERS_YAML, f"servers:\n  - url: {prefix}\n", 1)
    return Response(body=text, status_code=200, headers={"Content-Type": YAML_TYPE, "Cache-Control": "no-cache"})


def _negotiate_format(request):
    params = request.query_params or {}
    fmt = params.get("format")
    if fmt is not None:
        if fmt not in ("yaml", "json"):
            raise errors.ValidationError("format must be 'yaml' or 'json'.", field="format")
        return fmt
    accept = (request.headers.get("accept") or "").lower()
    wants_json = any(part.split(";")[0].strip() in ("application/json", "application/vnd.oai.openapi+json")
                     for part in accept.split(","))
    return "json" if wants_json else "yaml"


@functools.lru_cache(maxsize=4)
def _json_text(prefix):
    """The JSON document, its ``servers`` URL set to the stage prefix (if any)."""
    document = json.loads(_read_text("openapi.json"))
    if prefix:
        document["servers"] = [{**document["servers"][0], "url": prefix}]
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def stage_prefix(request):
    """The path prefix in front of the app's routes, e.g. "/api" for API Gateway stage "api", else "".

    API Gateway reports the full path (stage included) in ``context["path"]`` and the matched route
    in ``request.path``; ``chalice local`` and the test client have no prefix. Only used on routes
    without path parameters, where the route is the path's literal tail.
    """
    full = ((getattr(request, "context", None) or {}).get("path") or "").rstrip("/")
    route = (request.path or "").rstrip("/")
    if not route or not full.endswith(route):
        return ""
    prefix = full[: len(full) - len(route)]
    return prefix if _SAFE_PREFIX.match(prefix) else ""


# --- the pages and their files -----------------------------------------------------------------

PAGES = {
    "swagger": {
        "title": "Movie booking API — Swagger UI",
        "styles": ["swagger-ui.css"],
        "scripts": ["swagger-ui-bundle.js", "swagger-init.js"],
        "body": '<div id="swagger-ui"></div>',
        "package": "swagger-ui-dist",
    },
    "redoc": {
        "title": "Movie booking API — ReDoc",
        "styles": [],
        "scripts": ["redoc.standalone.js", "redoc-init.js"],
        "body": '<div id="redoc"></div>',
        "package": "redoc",
    },
}

# Our own small scripts (inline scripts would need 'unsafe-inline' in the CSP). The document's URL
# is relative to the page, which always ends in "/" (see page_response).
SWAGGER_INIT_JS = """\
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("../openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayRequestDuration: true,
    validatorUrl: null,
    withCredentials: false
  });
});
"""
REDOC_INIT_JS = """\
"use strict";
window.addEventListener("load", function () {
  Redoc.init(new URL("../openapi.json", document.baseURI).href, {
    expandResponses: "200,201",
    hideHostname: true,
    pathInMiddlePanel: true
  }, document.getElementById("redoc"));
});
"""
OWN_ASSETS = {
    ("swagger", "swagger-init.js"): SWAGGER_INIT_JS,
    ("redoc", "redoc-init.js"): REDOC_INIT_JS,
}
# page -> {served name: path under vendor/}; the build step copies exactly these files.
VENDOR_ASSETS = {
    "swagger": {
        "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
        "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
        "swagger-ui-bundle.js.LICENSE.txt": "swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt",
        "LICENSE": "swagger-ui-dist/LICENSE",
        "NOTICE": "swagger-ui-dist/NOTICE",
    },
    "redoc": {
        "redoc.standalone.js": "redoc/redoc.standalone.js",
        "LICENSE": "redoc/LICENSE",
    },
}


def page_response(request, page):
    """The HTML page; a request without the trailing slash is redirected to the URL with it.

    ``/swagger`` and ``/swagger/`` reach the same route, but relative URLs resolve differently from
    them; answering only at ``.../swagger/`` keeps every asset URL a plain file name.
    """
    spec = PAGES[page]
    full_path = ((getattr(request, "context", None) or {}).get("path") or request.path or "")
    if not full_path.endswith("/"):
        return Response(body="", status_code=301, headers={"Location": f"{page}/", "Cache-Control": "no-cache"})
    version = vendor_manifest()["packages"][spec["package"]]["version"]

    def url(name):
        # The version in the query string lets browsers cache the files until the pin changes.
        return f"{name}?v={version}"

    styles = "".join(f'\n<link rel="stylesheet" href="{url(s)}">' for s in spec["styles"])
    scripts = "".join(f'\n<script src="{url(s)}"></script>' for s in spec["scripts"])
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{spec["title"]}</title>
<link rel="icon" href="data:,">{styles}
</head>
<body>
{spec["body"]}{scripts}
</body>
</html>
"""
    return Response(body=html, status_code=200, headers=dict(PAGE_HEADERS))


def asset_response(page, name):
    """One file of a page (404 for anything not on the list)."""
    if (page, name) in OWN_ASSETS:
        # Ours change with the app, not with the pinned version in their URL: revalidate.
        body, cache = OWN_ASSETS[(page, name)], "no-cache"
    elif name in VENDOR_ASSETS.get(page, {}):
        vendor_manifest()
        body, cache = _read_text(os.path.join("vendor", VENDOR_ASSETS[page][name])), "public, max-age=86400"
    else:
        raise errors.NotFound(f"No file {name!r} here.")
    return Response(body=body, status_code=200, headers={"Content-Type": _content_type(name), "Cache-Control": cache})


def _content_type(name):
    if name.endswith(".js"):
        return JS_TYPE
    if name.endswith(".css"):
        return CSS_TYPE
    return TEXT_TYPE


def vendor_manifest():
    """``{"packages": {name: {"version", "integrity"}}}`` written by the build step."""
    return json.loads(_read_text(os.path.join("vendor", MANIFEST)))


# --- files -------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _read_text(relative_path):
    """A generated file's text (cached per cold start); DocsNotBuilt (503) if it is missing."""
    path = os.path.join(STATIC_DIR, relative_path)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        log.error("documentation file %s is missing: the build step (make assets) did not run", path)
        raise DocsNotBuilt(relative_path)


def missing_files():
    """Relative paths of every generated file the docs need that is absent (empty when built)."""
    needed = ["openapi.json", "openapi.yaml", os.path.join("vendor", MANIFEST)]
    needed += [os.path.join("vendor", p) for files in VENDOR_ASSETS.values() for p in files.values()]
    return [p for p in needed if not os.path.isfile(os.path.join(STATIC_DIR, p))]


def reset():
    """Forget cached files (after a rebuild, in tests)."""
    _read_text.cache_clear()
    _json_text.cache_clear()
