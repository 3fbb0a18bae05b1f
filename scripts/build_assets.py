"""Build the documentation files the app serves (``make assets``; ``make run``, ``make test`` and
packaging run it first). Everything goes to chalicelib/static/, which is generated and not in git:

- openapi.json: openapi.yaml converted, so the Lambda package needs no YAML parser at run time;
- openapi.yaml: a verbatim copy (served as text);
- vendor/: the Swagger UI and ReDoc files from the pinned npm packages below, each package's licence
  files beside them, and manifest.json naming versions and integrity hashes.

The packages are fetched with `npm pack` (the registry's tarball, nothing executed), checked against
the pinned sha512 integrity, and unpacked file by file. They are fetched only when the manifest does
not match the pins, so repeated builds are offline and take well under a second.

Usage: python scripts/build_assets.py [--force]
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from chalicelib import docs  # noqa: E402

SPEC_SOURCE = os.path.join(ROOT, "openapi.yaml")

# Pinned packages: version and the registry's sha512 integrity of that version's tarball
# (`npm view <name>@<version> dist.integrity`). redoc stays on 2.x: 3.x sends telemetry to
# otel.cloud.redocly.com and loads icons from cdn.redocly.com.
PACKAGES = {
    "swagger-ui-dist": {
        "version": "5.35.0",
        "integrity": "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
    },
    "redoc": {
        "version": "2.5.4",
        "integrity": "sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==",
    },
}
# For the tests only, never served or packaged: axe-core, the accessibility checker the box-office
# browser test runs in the page. It goes to tests/vendor/ (gitignored), with its licences.
TEST_PACKAGES = {
    "axe-core": {
        "version": "4.14.1",
        "integrity": "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
        "files": ["axe-core/axe.min.js"],
    },
}
TEST_VENDOR_DIR = os.path.join(ROOT, "tests", "vendor")
# Where a served file sits inside its package's tarball, when not at the top level.
TARBALL_PATHS = {"redoc/redoc.standalone.js": "bundles/redoc.standalone.js"}
# Exact edits to vendor files, each of which must match exactly once (a new version must be re-checked).
# ReDoc 2 shows a logo from cdn.redoc.ly in its sidebar footer, with no option to turn it off; the CSP
# would block it, but the page should not even try: an empty data: image fails and ReDoc hides it.
PATCHES = {
    "redoc/redoc.standalone.js": [('src:"https://cdn.redoc.ly/redoc/logo-mini.svg"', 'src:"data:,"')],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="fetch the npm packages even if up to date")
    args = parser.parse_args()
    build_spec()
    build_vendor(force=args.force)
    build_test_vendor(force=args.force)
    missing = docs.missing_files()
    if missing:
        raise SystemExit(f"build_assets: still missing after the build: {missing}")
    print(f"build_assets: {os.path.relpath(docs.STATIC_DIR, ROOT)}/ is up to date", flush=True)


def build_spec():
    """openapi.yaml -> static/openapi.json and a verbatim static/openapi.yaml."""
    import yaml  # a development dependency only: the app reads the JSON

    with open(SPEC_SOURCE, encoding="utf-8") as handle:
        text = handle.read()
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or "openapi" not in document or "paths" not in document:
        raise SystemExit("build_assets: openapi.yaml is not an OpenAPI document")
    if docs.SERVERS_YAML not in text:
        raise SystemExit(
            f"build_assets: openapi.yaml must contain the servers block {docs.SERVERS_YAML!r} verbatim "
            "(chalicelib/docs.py rewrites it to add the API Gateway stage prefix)")
    _write_if_changed("openapi.yaml", text)
    _write_if_changed("openapi.json", json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def build_vendor(force=False):
    manifest_path = os.path.join(docs.VENDOR_DIR, docs.MANIFEST)
    wanted = {"packages": PACKAGES,
              "patches": {path: [list(edit) for edit in edits] for path, edits in PATCHES.items()}}
    try:
        with open(manifest_path, encoding="utf-8") as handle:
            current = json.load(handle)
    except (FileNotFoundError, ValueError):
        current = None
    if current == wanted and not force and not docs.missing_files():
        return
    if shutil.which("npm") is None:
        raise SystemExit("build_assets: npm is needed to fetch swagger-ui-dist and redoc "
                         "(Debian: apt-get install -y npm)")
    files_by_package = {}
    for served in docs.VENDOR_ASSETS.values():
        for vendor_path in served.values():
            package = vendor_path.split("/", 1)[0]
            files_by_package.setdefault(package, set()).add(vendor_path)
    if set(files_by_package) != set(PACKAGES):
        raise SystemExit(f"build_assets: docs.VENDOR_ASSETS names {sorted(files_by_package)}, "
                         f"PACKAGES pins {sorted(PACKAGES)}")

    with tempfile.TemporaryDirectory(prefix="build-assets-") as tmp:
        for name, pin in PACKAGES.items():
            tarball = _npm_pack(name, pin, tmp)
            staging = os.path.join(tmp, "out", name)
            _extract(tarball, files_by_package[name] | _licence_paths(tarball, name), staging)
            _patch(name, staging)
            target = os.path.join(docs.VENDOR_DIR, name)
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(docs.VENDOR_DIR, exist_ok=True)
            shutil.move(staging, target)
            print(f"build_assets: {name}@{pin['version']} -> {os.path.relpath(target, ROOT)}/", flush=True)
    with open(manifest_path, "w", encoding="utf-8") as handle:
        json.dump(wanted, handle, indent=1)
        handle.write("\n")
    docs.reset()


def build_test_vendor(force=False):
    """TEST_PACKAGES into tests/vendor/<package>/, with their licences and a manifest (fetched only when
    the manifest does not match the pins)."""
    manifest_path = os.path.join(TEST_VENDOR_DIR, docs.MANIFEST)
    wanted = {"packages": TEST_PACKAGES}
    try:
        with open(manifest_path, encoding="utf-8") as handle:
            current = json.load(handle)
    except (FileNotFoundError, ValueError):
        current = None
    present = all(os.path.isfile(os.path.join(TEST_VENDOR_DIR, path))
                  for pin in TEST_PACKAGES.values() for path in pin["files"])
    if current == wanted and present and not force:
        return
    if shutil.which("npm") is None:
        raise SystemExit("build_assets: npm is needed to fetch the test-only packages (Debian: apt-get install -y npm)")
    with tempfile.TemporaryDirectory(prefix="build-assets-") as tmp:
        for name, pin in TEST_PACKAGES.items():
            tarball = _npm_pack(name, pin, tmp)
            staging = os.path.join(tmp, "out", name)
            _extract(tarball, set(pin["files"]) | _licence_paths(tarball, name), staging)
            target = os.path.join(TEST_VENDOR_DIR, name)
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(TEST_VENDOR_DIR, exist_ok=True)
            shutil.move(staging, target)
            print(f"build_assets: {name}@{pin['version']} -> {os.path.relpath(target, ROOT)}/ (tests only)", flush=True)
    with open(manifest_path, "w", encoding="utf-8") as handle:
        json.dump(wanted, handle, indent=1)
        handle.write("\n")


def _npm_pack(name, pin, directory):
    """Download the package's tarball from the registry (no install scripts run) and verify it."""
    spec = f"{name}@{pin['version']}"
    result = subprocess.run(["npm", "pack", spec, "--pack-destination", directory, "--json", "--silent"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"build_assets: `npm pack {spec}` failed:\n{result.stderr.strip()}")
    filename = json.loads(result.stdout)[0]["filename"]
    path = os.path.join(directory, os.path.basename(filename))
    with open(path, "rb") as handle:
        digest = "sha512-" + base64.b64encode(hashlib.sha512(handle.read()).digest()).decode("ascii")
    if digest != pin["integrity"]:
        raise SystemExit(f"build_assets: {spec} integrity mismatch: got {digest}, pinned {pin['integrity']}")
    return path


def _licence_paths(tarball, package):
    """The package's licence and notice files (top level), under their vendor paths."""
    with tarfile.open(tarball, "r:gz") as archive:
        names = [m.name for m in archive.getmembers() if m.isfile()]
    found = set()
    for member in names:
        parts = member.split("/")
        if len(parts) == 2 and parts[1].upper().startswith(("LICENSE", "LICENCE", "NOTICE", "COPYING")):
            found.add(f"{package}/{parts[1]}")
    if not found:
        raise SystemExit(f"build_assets: no licence file in {package}'s package")
    return found


def _extract(tarball, vendor_paths, staging):
    """Copy the named files (only those: no paths from the archive are trusted) into ``staging``."""
    with tarfile.open(tarball, "r:gz") as archive:
        for vendor_path in sorted(vendor_paths):
            inner = TARBALL_PATHS.get(vendor_path, vendor_path.split("/", 1)[1])
            member = archive.getmember(f"package/{inner}")
            if not member.isfile():
                raise SystemExit(f"build_assets: {member.name} is not a regular file")
            destination = os.path.join(staging, vendor_path.split("/", 1)[1])
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with archive.extractfile(member) as source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out)


def _patch(package, staging):
    for vendor_path, edits in PATCHES.items():
        if vendor_path.split("/", 1)[0] != package:
            continue
        path = os.path.join(staging, vendor_path.split("/", 1)[1])
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        for old, new in edits:
            if text.count(old) != 1:
                raise SystemExit(f"build_assets: patch for {vendor_path} matches {text.count(old)} times, "
                                 f"not once: re-check PATCHES for this version")
            text = text.replace(old, new)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def _write_if_changed(relative_path, text):
    path = os.path.join(docs.STATIC_DIR, relative_path)
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    docs.reset()


if __name__ == "__main__":
    main()
