"""The dependency rule between the layers, read from the imports (docs/architecture.md).

From the outside in: app.py (routes) -> web/docs (HTTP) -> services -> domain (rules, pure);
services -> db (data access) -> storage (DynamoDB plumbing). Inner layers never import outer ones.
"""
import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"
STDLIB = sys.stdlib_module_names

SHARED = {"chalicelib.errors", "chalicelib.settings", "chalicelib.clock", "chalicelib.log_context"}
SERVICES = {f"chalicelib.{name}" for name in (
    "auth", "bookings", "catalog", "admin", "importer", "idempotency", "holds", "seat_writes", "tokens", "pagination",
    "validation", "tickets", "ticket_keys", "checkin", "outbox", "webhooks", "sweep", "waitlist")}

# layer -> (the chalicelib modules or packages it may import, the third-party packages it may import)
RULES = {
    "domain": ({"chalicelib.domain", "chalicelib.errors"}, set()),
    "shared": (SHARED, {"boto3", "botocore"}),  # settings reads the deployed secret from SSM
    "keys": (set(), set()),
    "storage": (SHARED, {"boto3", "botocore"}),
    "db": (SHARED | {"chalicelib.db", "chalicelib.keys", "chalicelib.storage"}, set()),
    "services": (SHARED | SERVICES | {"chalicelib.domain", "chalicelib.db", "chalicelib.keys", "chalicelib.queues"},
                 {"bcrypt", "jwt", "fastjsonschema", "disarm", "cryptography", "segno"}),
    "web": (SHARED | SERVICES | {"chalicelib.domain", "chalicelib.db", "chalicelib.web", "chalicelib.docs",
                                 "chalicelib.box_office"},
            {"chalice"}),
}


def layer_of(module):
    if module.startswith("chalicelib.domain"):
        return "domain"
    if module.startswith("chalicelib.db"):
        return "db"
    if module in SHARED:
        return "shared"
    if module in SERVICES:
        return "services"
    return {"chalicelib.keys": "keys", "chalicelib.storage": "storage", "chalicelib.queues": "storage",
            "chalicelib.web": "web", "chalicelib.docs": "web", "chalicelib.box_office": "web",
            "chalicelib.door": "web"}.get(module)


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "static" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path


PACKAGES = {"chalicelib", "chalicelib.db", "chalicelib.domain"}


def imports_of(path):
    """Every module ``path`` imports, at the top or inside functions (``from chalicelib import x``
    counts as importing ``chalicelib.x``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            if node.module in PACKAGES:
                yield from (f"{node.module}.{alias.name}" for alias in node.names)
            else:
                yield node.module


def allowed(name, own_rules):
    internal, third_party = own_rules
    if name.split(".")[0] in STDLIB:
        return True
    if name.startswith("chalicelib"):
        return any(name == rule or name.startswith(rule + ".") for rule in internal)
    return name.split(".")[0] in third_party


CHECKED = [(module, path) for module, path in modules() if layer_of(module)]


@pytest.mark.parametrize("module, path", CHECKED, ids=[m for m, _ in CHECKED])
def test_module_imports_only_what_its_layer_may(module, path):
    rules = RULES[layer_of(module)]
    wrong = sorted({name for name in imports_of(path) if not allowed(name, rules)})
    assert not wrong, f"{module} ({layer_of(module)}) may not import {wrong}"


def test_every_module_of_the_package_belongs_to_a_layer_or_is_an_entry_point():
    unplaced = [module for module, _ in modules() if not layer_of(module)]
    assert unplaced == ["chalicelib", "chalicelib.cli"]  # the package itself; the operator CLI (outermost)


VOCABULARY = ("TableName", "ExpressionAttributeValues", "TransactItems", "KeyConditionExpression",
              "ConditionExpression", "storage.")


@pytest.mark.parametrize("module", sorted(SERVICES | {"chalicelib.domain.seats", "chalicelib.domain.holds",
                                                     "chalicelib.domain.layout", "chalicelib.domain.picking",
                                                     "chalicelib.domain.caps", "chalicelib.domain.tickets"}))
def test_services_and_rules_speak_no_dynamodb(module):
    path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    text = path.read_text(encoding="utf-8")
    assert [word for word in VOCABULARY if word in text] == []


def test_importing_the_rules_and_services_loads_neither_boto3_nor_chalice():
    code = ("import sys; import chalicelib.domain.seats, chalicelib.bookings, chalicelib.auth, "
            "chalicelib.admin, chalicelib.catalog; "
            "print(sorted(m for m in ('boto3', 'botocore', 'chalice', 'moto') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"
