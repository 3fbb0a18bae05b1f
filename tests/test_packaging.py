"""Packaging for AWS: `make package` for both stages, cfn-lint, checkov, the table, least-privilege IAM,
tracing, access logs, reserved concurrency, CORS per stage.

The packaged templates are built once per module with the real `make package` target (chalice package
--merge-template infra/template.yaml, then cfn-lint and checkov), into a temporary directory, and
scanned once more with checkov here for its JSON report.
"""
import ast
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import botocore.session
import pytest
import yaml
from botocore import xform_name

from chalicelib import settings, storage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
STAGES = ("dev", "prod")
TABLE, LOG_GROUP, ACCESS_LOG_GROUP = "BookingTable", "ApiLogGroup", "ApiAccessLogGroup"
CHECKOV = os.path.join(ROOT, ".venv-checkov", "bin", "checkov")  # its own venv (Makefile: checkov-install)
# Active tracing writes through these; IAM has no resource type for them, so their Resource can only be "*".
XRAY_WRITES = {"PutTraceSegments", "PutTelemetryRecords"}
# Called only by storage.create_table, which only the CLI and `make run` use: never by the function.
OPERATOR_ONLY_DYNAMODB = {"CreateTable", "UpdateTimeToLive", "DescribeTable", "UpdateTable"}
QUEUES = ("WebhookQueue", "StreamFailureQueue", "WebhookDeadLetterQueue")
# The event functions (issue 20): each with its own role, policy file and log group.
EVENT_FUNCTIONS = {
    "TableChanges": {"policy": "policy-table-changes.json", "log_group": "TableChangesLogGroup"},
    "WebhookDeliveries": {"policy": "policy-webhook-deliveries.json", "log_group": "WebhookDeliveriesLogGroup"},
    "Sweep": {"policy": "policy-sweep.json", "log_group": "SweepLogGroup"},
}
TRANSACTION_PARTS = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem",
                     "Delete": "DeleteItem"}


def run(cmd, **kwargs):
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run(cmd, cwd=kwargs.pop("cwd", ROOT), env=env, capture_output=True, text=True,
                          timeout=300, **kwargs)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    for stage in STAGES:
        done = run(["make", "--no-print-directory", "package", f"STAGE={stage}", f"BUILD_DIR={out}"])
        assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def templates(build_dir):
    loaded = {}
    for stage in STAGES:
        with open(build_dir / stage / "sam.yaml", encoding="utf-8") as handle:
            loaded[stage] = yaml.safe_load(handle)
    return loaded


def resources(template, kind):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def table_of(template):
    return template["Resources"][TABLE]["Properties"]


def function_of(template):
    return template["Resources"]["APIHandler"]["Properties"]


def policy_file(stage):
    with open(os.path.join(ROOT, ".chalice", f"policy-{stage}.json"), encoding="utf-8") as handle:
        return json.load(handle)


def event_policy(function):
    with open(os.path.join(ROOT, ".chalice", EVENT_FUNCTIONS[function]["policy"]), encoding="utf-8") as handle:
        return json.load(handle)


def stage_config(stage):
    with open(os.path.join(ROOT, ".chalice", "config.json"), encoding="utf-8") as handle:
        return json.load(handle)["stages"][stage]


# --- the package -----------------------------------------------------------------------------

def test_make_package_writes_sam_template_and_zip_for_each_stage(build_dir):
    for stage in STAGES:
        assert (build_dir / stage / "sam.yaml").stat().st_size > 0
        assert (build_dir / stage / "deployment.zip").stat().st_size > 0


@pytest.mark.parametrize("stage", ["staging", ""])
def test_make_package_refuses_an_unknown_stage(stage, tmp_path):
    done = run(["make", "--no-print-directory", "package", f"STAGE={stage}", f"BUILD_DIR={tmp_path}"])
    assert done.returncode != 0
    assert "STAGE must be dev or prod" in done.stderr


def test_cfn_lint_finds_nothing_in_either_stage(build_dir):
    done = run([os.path.join(BIN, "cfn-lint")] + [str(build_dir / s / "sam.yaml") for s in STAGES])
    assert done.returncode == 0, done.stdout + done.stderr


def test_deployment_zip_carries_the_app_and_its_runtime_dependencies(build_dir):
    import zipfile

    names = zipfile.ZipFile(build_dir / "prod" / "deployment.zip").namelist()
    for expected in ("app.py", "chalicelib/admin.py", "jwt/__init__.py", "bcrypt/__init__.py",
                     "segno/__init__.py", "cryptography/hazmat/bindings/_rust.abi3.so",  # e-tickets (issue 19)
                     "chalicelib/static/door/index.html"):
        assert expected in names
    # cryptography is not in the Lambda runtime: its Linux wheel must be the one bundled (not this machine's
    # build, whatever it is), and one for Lambda's glibc (Amazon Linux 2: 2.26).
    wheel = zipfile.ZipFile(build_dir / "prod" / "deployment.zip").read(
        next(n for n in names if n.startswith("cryptography-") and n.endswith(".dist-info/WHEEL"))).decode()
    assert "manylinux2014_x86_64" in wheel or "manylinux_2_17_x86_64" in wheel, wheel
    assert not [n for n in names if n.startswith(("tests/", ".chalice/", "boto3/"))]


# --- the table -------------------------------------------------------------------------------

def test_table_matches_storage_table_definition(templates):
    expected = storage.table_definition("ignored")
    for template in templates.values():
        table = table_of(template)
        assert table["KeySchema"] == expected["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
        assert table["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]
        assert table["BillingMode"] == expected["BillingMode"] == "PAY_PER_REQUEST"


def test_table_has_point_in_time_recovery_encryption_and_ttl(templates):
    for template in templates.values():
        table = table_of(template)
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["SSESpecification"]["SSEEnabled"] is True
        assert table["TimeToLiveSpecification"] == {"AttributeName": storage.TTL_ATTRIBUTE, "Enabled": True}


def test_table_is_deletion_protected_unless_turned_off_and_kept_when_the_stack_goes(templates):
    for template in templates.values():
        assert table_of(template)["DeletionProtectionEnabled"] == {"Ref": "DeletionProtection"}
        assert template["Parameters"]["DeletionProtection"]["Default"] == "true"
        assert template["Resources"][TABLE]["DeletionPolicy"] == "Retain"
        assert template["Resources"][TABLE]["UpdateReplacePolicy"] == "Retain"


def test_there_is_exactly_one_table(templates):
    for template in templates.values():
        assert list(resources(template, "AWS::DynamoDB::Table")) == [TABLE]


# --- the function ----------------------------------------------------------------------------

def test_function_table_and_secret_settings_are_wired_with_ref(templates):
    for template in templates.values():
        variables = function_of(template)["Environment"]["Variables"]
        assert variables["TABLE_NAME"] == {"Ref": TABLE}
        assert variables["JWT_SECRET_PARAM"] == template["Outputs"]["JwtSecretParameterName"]["Value"]
        assert variables["TICKET_SIGNING_KEY_PARAM"] == template["Outputs"]["TicketSigningKeyParameterName"]["Value"]


def test_stage_settings_come_from_chalice_config(templates):
    for stage, template in templates.items():
        function, config = function_of(template), stage_config(stage)
        assert function["Environment"]["Variables"]["STAGE"] == stage
        assert stage not in settings.LOCAL_STAGES
        assert function["MemorySize"] == config["lambda_memory_size"]
        assert function["Timeout"] == config["lambda_timeout"] <= 29  # API Gateway gives up after 29 s
        assert function["Tags"]["stage"] == stage


def test_prod_gets_one_full_vcpu_for_bcrypt(templates):
    assert function_of(templates["prod"])["MemorySize"] >= 1769
    assert function_of(templates["prod"])["Environment"]["Variables"]["BCRYPT_ROUNDS"] == "12"


def test_function_logs_to_its_own_log_group_with_retention(templates):
    for template in templates.values():
        group = template["Resources"][LOG_GROUP]["Properties"]
        name = function_of(template)["FunctionName"]["Fn::Sub"]
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{name}"}
        assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


# --- the policy ------------------------------------------------------------------------------

SECRET_PARAMETERS = ("JWT_SECRET_PARAM", "TICKET_SIGNING_KEY_PARAM")  # the JWT key; the ticket keys (issue 19)


def _ssm_resources(template):
    """The ARNs of the function's SSM parameters, in SECRET_PARAMETERS order."""
    arns = []
    for name in SECRET_PARAMETERS:
        parameter = function_of(template)["Environment"]["Variables"][name]["Fn::Sub"]
        assert parameter.startswith("/")
        arns.append({"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + parameter})
    return arns


def _allowed_resources(template, log_group=LOG_GROUP):
    """What each service may touch: this stack's table, its indexes and its stream, its two parameters,
    its queues, the function's own log group; X-Ray's trace writes, which IAM cannot scope to a resource."""
    indexes = [i["IndexName"] for i in table_of(template)["GlobalSecondaryIndexes"]]
    return {
        "dynamodb": [{"Fn::GetAtt": [TABLE, "Arn"]}, {"Fn::GetAtt": [TABLE, "StreamArn"]}]
        + [{"Fn::Sub": "${" + TABLE + ".Arn}/index/" + name} for name in indexes],
        "ssm": _ssm_resources(template),
        "sqs": [{"Fn::GetAtt": [queue, "Arn"]} for queue in QUEUES],
        "logs": [{"Fn::GetAtt": [log_group, "Arn"]}],
        "xray": ["*"],
    }


def _statements(policy):
    statements = policy["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("function", [None, *EVENT_FUNCTIONS])
def test_policy_names_only_the_projects_resources(stage, function, templates):
    template = templates[stage]
    policy = policy_file(stage) if function is None else event_policy(function)
    allowed = _allowed_resources(template, EVENT_FUNCTIONS[function]["log_group"] if function else LOG_GROUP)
    for statement in _statements(policy):
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "Principal"} & set(statement)
        services = {action.split(":")[0] for action in _as_list(statement["Action"])}
        assert len(services) == 1, f"one service per statement: {statement}"
        (service,) = services
        for resource in _as_list(statement["Resource"]):
            assert resource in allowed[service], f"{service} on {resource}"
        if service == "xray":  # the one wildcard resource, for exactly the actions that cannot have another
            assert {a.split(":")[1] for a in _as_list(statement["Action"])} <= XRAY_WRITES, statement
            continue
        assert "*" not in json.dumps(statement["Action"]) + json.dumps(statement["Resource"]).replace("/*", "")


@pytest.mark.parametrize("stage", STAGES)
def test_packaged_role_carries_the_stage_policy_file_verbatim(stage, templates):
    roles = resources(templates[stage], "AWS::IAM::Role")
    assert sorted(roles) == sorted(["ApiHandlerRole"] + [f"{name}Role" for name in EVENT_FUNCTIONS])
    (policy,) = roles["ApiHandlerRole"]["Properties"]["Policies"]
    assert policy["PolicyDocument"] == policy_file(stage)
    assert "ManagedPolicyArns" not in roles["ApiHandlerRole"]["Properties"]
    assert function_of(templates[stage])["Role"] == {"Fn::GetAtt": ["ApiHandlerRole", "Arn"]}


def _actions(policy, service, resource_filter=None):
    found = set()
    for statement in _statements(policy):
        if resource_filter and not any(resource_filter(r) for r in _as_list(statement["Resource"])):
            continue
        found |= {a.split(":")[1] for a in _as_list(statement["Action"]) if a.startswith(service + ":")}
    return found


def _source_files():
    """The code that runs in the function: app.py and chalicelib, less the operator-only CLI."""
    files = [os.path.join(ROOT, "app.py")] + sorted(glob.glob(os.path.join(ROOT, "chalicelib", "*.py")))
    return [f for f in files if os.path.basename(f) != "cli.py"]


def _operations_called(service):
    """Operation names whose snake_case method is called anywhere in the function's code."""
    model = botocore.session.get_session().get_service_model(service)
    by_method = {xform_name(name): name for name in model.operation_names}
    called = set()
    for path in _source_files():
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in by_method:
                called.add(by_method[node.func.attr])
            if service == "dynamodb" and isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get_waiter":
                called.add("DescribeTable")  # the table_exists waiter
            if service == "dynamodb" and isinstance(node, ast.Dict):
                called |= {TRANSACTION_PARTS[k.value] for k in node.keys
                           if isinstance(k, ast.Constant) and k.value in TRANSACTION_PARTS}
            # storage.Transaction adds its parts with self._add(name, "ConditionCheck", ...)
            if (service == "dynamodb" and isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "_add"
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)):
                called.add(TRANSACTION_PARTS[node.args[1].value])
    return called


def test_dynamodb_operations_are_derived_from_the_code():
    used = _operations_called("dynamodb")
    # The booking and admin paths: a sanity check that the derivation sees what we know is there.
    assert {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "TransactWriteItems",
            "ConditionCheckItem"} <= used
    assert "Scan" not in used


@pytest.mark.parametrize("stage", STAGES)
def test_policy_allows_exactly_the_dynamodb_operations_the_code_uses(stage):
    used = _operations_called("dynamodb") - OPERATOR_ONLY_DYNAMODB
    assert _actions(policy_file(stage), "dynamodb") == used


@pytest.mark.parametrize("stage", STAGES)
def test_only_query_is_allowed_on_the_index(stage):
    assert _actions(policy_file(stage), "dynamodb", lambda r: "/index/" in json.dumps(r)) == {"Query"}


def test_operator_only_operations_are_called_only_by_create_table():
    storage_path = os.path.join(ROOT, "chalicelib", "storage.py")
    with open(storage_path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    operator_methods = {xform_name(op) for op in OPERATOR_ONLY_DYNAMODB} | {"get_waiter"}
    for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        calls = {n.func.attr for n in ast.walk(function)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
        if function.name != "create_table":
            assert not calls & operator_methods, function.name
    for path in _source_files():
        if path != storage_path:
            with open(path, encoding="utf-8") as handle:
                assert not re.search(r"\bcreate_table\(", handle.read()), path


@pytest.mark.parametrize("stage", STAGES)
def test_policy_allows_exactly_get_parameter_for_the_secrets(stage, templates):
    assert _operations_called("ssm") == {"GetParameter"}
    assert _actions(policy_file(stage), "ssm") == {"GetParameter"}
    ssm = [s for s in _statements(policy_file(stage)) if s["Action"] == ["ssm:GetParameter"]]
    assert [s["Resource"] for s in ssm] == _ssm_resources(templates[stage])


@pytest.mark.parametrize("stage", STAGES)
def test_policy_lets_the_function_write_only_to_its_log_group(stage):
    assert _actions(policy_file(stage), "logs") == {"CreateLogStream", "PutLogEvents"}


@pytest.mark.parametrize("stage", STAGES)
def test_function_is_traced_and_may_only_write_traces_to_xray(stage, templates):
    assert stage_config(stage)["xray"] is True
    assert function_of(templates[stage])["Tracing"] == "Active"
    assert _actions(policy_file(stage), "xray") == XRAY_WRITES
    assert [s["Resource"] for s in _statements(policy_file(stage)) if s["Action"][0].startswith("xray:")] == ["*"]


def test_chalice_config_turns_off_the_generated_policy_in_deployed_stages():
    for stage in STAGES:
        config = stage_config(stage)
        assert config["autogen_policy"] is False
        assert config["iam_policy_file"] == f"policy-{stage}.json"


# --- the API ---------------------------------------------------------------------------------

def _app_routes(app):
    return {(path, method.lower()) for path, methods in app.routes.items() for method in methods}


def test_every_app_route_is_in_the_packaged_api(templates):
    from app import app

    for template in templates.values():
        paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
        packaged = {(path, method) for path, methods in paths.items() for method in methods if method != "options"}
        assert packaged == _app_routes(app)
        assert ("/movies", "post") in packaged and ("/shows/{show_id}/bookings", "get") in packaged


def test_api_gateway_throttles_all_routes_and_login_harder(templates):
    for template in templates.values():
        settings_by_path = {(s["ResourcePath"], s["HttpMethod"]): s
                            for s in template["Resources"]["RestAPI"]["Properties"]["MethodSettings"]}
        overall, login = settings_by_path[("/*", "*")], settings_by_path[("/~1login", "POST")]
        for method_setting in (overall, login):
            assert {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(method_setting)
        params = template["Parameters"]
        assert params["LoginThrottlingRateLimit"]["Default"] < params["ThrottlingRateLimit"]["Default"]


def test_api_gateway_traces_requests_with_xray(templates):
    for template in templates.values():
        assert template["Resources"]["RestAPI"]["Properties"]["TracingEnabled"] is True


def _render_access_log(fmt):
    """An access log line with API Gateway's $context variables filled in (it writes "-" for a missing one)."""
    values = {"status": "429", "responseLatency": "3", "identity.sourceIp": "203.0.113.9"}
    return re.sub(r"\$context\.([A-Za-z.]+)", lambda m: values.get(m.group(1), "-"), fmt)


def test_api_gateway_writes_one_json_access_line_per_request_to_its_own_log_group_with_retention(templates):
    for template in templates.values():
        setting = template["Resources"]["RestAPI"]["Properties"]["AccessLogSetting"]
        assert setting["DestinationArn"] == {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:"
                                                        "${AWS::AccountId}:log-group:${" + ACCESS_LOG_GROUP + "}"}
        group = template["Resources"][ACCESS_LOG_GROUP]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
        line = json.loads(_render_access_log(setting["Format"]))
        assert line["status"] == 429 and line["ip"] == "203.0.113.9" and line["requestId"] == "-"
        assert {"requestId", "route", "method", "latencyMs", "integrationStatus", "xrayTraceId"} <= set(line)
        # Only values API Gateway produces: nothing from the request's headers, body or query string.
        assert re.findall(r"\$\w+", setting["Format"]) == ["$context"] * len(line)


# --- reserved concurrency (docs/deploy.md, "Reserved concurrency") ---------------------------

P99_API_REQUEST_S = 0.15  # GetItem p99 16 ms + a 5-item transaction's p99 90 ms + the function's own work
BCRYPT_S_AT_1769_MB = 0.202  # cost 12, one full vCPU (docs/deploy.md, "Memory and bcrypt cost")
ACCOUNT_CONCURRENCY, KEPT_UNRESERVED = 1000, 100  # Lambda's default per region; it keeps 100 unreserved


def _peak_concurrency(template, stage):
    """Little's law at the gateway's default limits: requests in flight = rate x time in the function."""
    params, memory = template["Parameters"], stage_config(stage)["lambda_memory_size"]
    login_s = BCRYPT_S_AT_1769_MB * 1769 / min(memory, 1769) + 0.016
    return (params["ThrottlingRateLimit"]["Default"] * P99_API_REQUEST_S
            + params["LoginThrottlingRateLimit"]["Default"] * login_s)


def test_reserved_concurrency_is_twice_the_throttled_peak_and_leaves_the_account_pool(templates):
    for stage, template in templates.items():
        reserved = function_of(template)["ReservedConcurrentExecutions"]
        assert reserved == stage_config(stage)["reserved_concurrency"]
        assert reserved >= 2 * _peak_concurrency(template, stage), stage
    both = sum(function_of(t)["ReservedConcurrentExecutions"] for t in templates.values())
    assert both <= ACCOUNT_CONCURRENCY - KEPT_UNRESERVED  # dev and prod fit in one default account


def _render(velocity):
    """A gateway response template with API Gateway's variables filled in as it would."""
    return (velocity.replace("$context.requestId", "4f1c-req")
            .replace("$context.error.messageString", '"Missing \\"thing\\""')
            .replace("$context.error.responseType", "DEFAULT_4XX"))


def test_errors_api_gateway_answers_itself_are_json_with_a_request_id(templates):
    for template in templates.values():
        responses = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"][
            "x-amazon-apigateway-gateway-responses"]
        assert {"MISSING_AUTHENTICATION_TOKEN", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
        assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == 404
        assert responses["THROTTLED"]["statusCode"] == 429
        for response in responses.values():
            body = json.loads(_render(response["responseTemplates"]["application/json"]))
            assert set(body) == {"Code", "Message", "request_id"}
            assert body["request_id"] == "4f1c-req"


# --- CORS per stage --------------------------------------------------------------------------

def test_cors_is_off_by_default_in_every_stage(templates):
    for stage, template in templates.items():
        assert stage_config(stage)["environment_variables"]["CORS_ALLOW_ORIGIN"] == ""
        paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
        assert not [path for path, methods in paths.items() if "options" in methods]


@pytest.fixture
def cors_app(monkeypatch):
    """app.py imported afresh (under another module name) with CORS_ALLOW_ORIGIN set."""
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://tickets.example")
    settings.reset()
    spec = importlib.util.spec_from_file_location("app_with_cors", os.path.join(ROOT, "app.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.app
    monkeypatch.delenv("CORS_ALLOW_ORIGIN")
    settings.reset()


def test_cors_when_configured_answers_preflight_and_marks_responses(cors_app, demo):
    from chalice.config import Config
    from chalice.local import LocalGateway
    from chalice.test import Client

    # The local gateway of `chalice local` (the test client cannot render a preflight's empty body).
    preflight = LocalGateway(cors_app, Config()).handle_request(
        method="OPTIONS", path="/shows/1/book", body=b"",
        headers={"Origin": "https://tickets.example", "Access-Control-Request-Method": "POST"})
    assert preflight["statusCode"] == 200
    assert preflight["headers"]["Access-Control-Allow-Origin"] == "https://tickets.example"
    assert "Authorization" in preflight["headers"]["Access-Control-Allow-Headers"]
    assert "POST" in preflight["headers"]["Access-Control-Allow-Methods"]
    with Client(cors_app) as client:
        listing = client.http.get("/movies", headers={"Origin": "https://tickets.example"})
        assert listing.headers["Access-Control-Allow-Origin"] == "https://tickets.example"


def test_cors_set_in_a_stage_config_reaches_the_packaged_api(tmp_path):
    project = tmp_path / "project"  # just what `chalice package` reads
    for name in ("app.py", "requirements.txt", "infra/template.yaml", ".chalice/config.json",
                 ".chalice/policy-dev.json", *(f".chalice/{f['policy']}" for f in EVENT_FUNCTIONS.values())):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, name), project / name)
    shutil.copytree(os.path.join(ROOT, "chalicelib"), project / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["dev"]["environment_variables"]["CORS_ALLOW_ORIGIN"] = "https://tickets.example"
    config_path.write_text(json.dumps(config))
    done = run([os.path.join(BIN, "chalice"), "package", "--merge-template", "infra/template.yaml",
                "--stage", "dev", str(tmp_path / "out")], cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    template = yaml.safe_load((tmp_path / "out" / "sam.yaml").read_text())
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    preflight = paths["/movies"]["options"]["x-amazon-apigateway-integration"]["responses"]["default"]
    assert preflight["responseParameters"]["method.response.header.Access-Control-Allow-Origin"] == \
        "'https://tickets.example'"


# --- checkov ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkov_results(build_dir):
    """checkov's JSON report on both packaged templates (offline), as {stage: {"passed"|"failed"|"skipped": [...]}}."""
    if not os.access(CHECKOV, os.X_OK):
        pytest.fail(f"{CHECKOV} is missing: run `make test` (it installs checkov into .venv-checkov)")
    files = [str(build_dir / stage / "sam.yaml") for stage in STAGES]
    done = subprocess.run([CHECKOV, "--skip-download", "--output", "json", *sum((["-f", f] for f in files), [])],
                          env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
                          capture_output=True, text=True, timeout=300)
    try:
        reports = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"checkov wrote no JSON report (exit {done.returncode}): {done.stderr[-2000:]}")
    reports = reports if isinstance(reports, list) else [reports]
    assert sum(r.get("summary", {}).get("parsing_errors", 0) for r in reports) == 0, done.stdout
    by_stage = {stage: {"passed": [], "failed": [], "skipped": []} for stage in STAGES}
    for report in reports:
        for kind in ("passed", "failed", "skipped"):
            for check in report.get("results", {}).get(f"{kind}_checks", []):
                (stage,) = [s for s in STAGES if check["file_path"].endswith(f"/{s}/sam.yaml")]
                by_stage[stage][kind].append(check)
    assert done.returncode == (1 if any(r["failed"] for r in by_stage.values()) else 0), done.stderr[-2000:]
    return by_stage


def _describe(check):
    return f"{check['check_id']} on {check['resource']}: {check['check_name']}"


@pytest.mark.parametrize("stage", STAGES)
def test_checkov_finds_no_failed_check_in_the_packaged_template(stage, checkov_results):
    results = checkov_results[stage]
    assert [_describe(c) for c in results["failed"]] == []
    # ... and it did look: every resource that carries data, code, permissions or logs was checked.
    checked = {c["resource"].split(".")[-1] for kind in results.values() for c in kind}
    assert {"APIHandler", "ApiHandlerRole", "RestAPI", TABLE, LOG_GROUP, ACCESS_LOG_GROUP} <= checked


@pytest.mark.parametrize("stage", STAGES)
def test_every_check_checkov_skips_gives_its_reason(stage, checkov_results):
    skipped = checkov_results[stage]["skipped"]
    assert skipped, "no skips reported: is the template's Metadata still merged in?"
    for check in skipped:
        comment = check["check_result"].get("suppress_comment", "").strip()
        assert comment and comment != "No comment provided", _describe(check)


def test_every_skip_in_the_template_has_a_one_line_comment_and_is_a_check_that_applies(checkov_results):
    with open(os.path.join(ROOT, "infra", "template.yaml"), encoding="utf-8") as handle:
        source = yaml.load(handle, Loader=_CfnLoader)
    skips = [(name, skip) for name, resource in source["Resources"].items()
             for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])]
    assert skips
    for name, skip in skips:
        assert set(skip) == {"id", "comment"}, name
        assert skip["comment"].strip() and "\n" not in skip["comment"], (name, skip["id"])
    for stage, results in checkov_results.items():  # no stale or mistyped id: each one silenced a real finding
        reported = {(c["resource"].split(".")[-1], c["check_id"]) for c in results["skipped"]}
        assert reported == {(name, skip["id"]) for name, skip in skips}, stage


@pytest.mark.parametrize("check_id", ["CKV_AWS_73", "CKV_AWS_76", "CKV_AWS_115"])  # X-Ray, access log, concurrency
def test_tracing_access_logs_and_reserved_concurrency_pass_checkov_rather_than_being_skipped(check_id, checkov_results):
    for stage, results in checkov_results.items():
        assert check_id in {c["check_id"] for c in results["passed"]}, stage
        assert check_id not in {c["check_id"] for c in results["skipped"]}, stage


class _CfnLoader(yaml.SafeLoader):
    """Reads infra/template.yaml as it is written, with CloudFormation's short tags (!Ref, !Sub, ...)."""


_CfnLoader.add_multi_constructor("!", lambda loader, tag, node: None)


# --- the events (issue 20): stream, mappings, queues, schedule, their roles ---------------------

@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("function", EVENT_FUNCTIONS)
def test_each_event_function_has_its_own_role_with_its_policy_file_and_its_own_log_group(stage, function, templates):
    template = templates[stage]
    properties = template["Resources"][function]["Properties"]
    assert properties["Role"] == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
    (policy,) = template["Resources"][f"{function}Role"]["Properties"]["Policies"]
    assert policy["PolicyDocument"] == event_policy(function)
    group = template["Resources"][EVENT_FUNCTIONS[function]["log_group"]]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{properties['FunctionName']['Fn::Sub']}"}
    assert properties["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": TABLE}
    assert "JWT_SECRET_PARAM" not in properties["Environment"]["Variables"]
    assert _actions(event_policy(function), "ssm") == set()


def test_the_table_streams_new_and_old_images(templates):
    for template in templates.values():
        assert table_of(template)["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_stream_mapping_bisects_retries_a_bounded_number_of_times_and_sends_failures_to_a_queue(templates):
    for template in templates.values():
        (event,) = template["Resources"]["TableChanges"]["Properties"]["Events"].values()
        mapping = event["Properties"]
        assert event["Type"] == "DynamoDB" and mapping["Stream"] == {"Fn::GetAtt": [TABLE, "StreamArn"]}
        assert mapping["BisectBatchOnFunctionError"] is True
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["MaximumRetryAttempts"] == {"Ref": "StreamMaximumRetryAttempts"}
        assert template["Parameters"]["StreamMaximumRetryAttempts"]["Default"] == 10
        assert mapping["DestinationConfig"]["OnFailure"] == {
            "Type": "SQS", "Destination": {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}}
        assert _actions(event_policy("TableChanges"), "sqs") == {"SendMessage"}


def test_the_stream_mapping_passes_only_the_item_types_events_are_made_of(templates):
    from chalicelib.domain import events

    kinds = {"booking", "hold", "show", "waitlist"}
    for template in templates.values():
        (event,) = template["Resources"]["TableChanges"]["Properties"]["Events"].values()
        patterns = [json.loads(f["Pattern"]) for f in event["Properties"]["FilterCriteria"]["Filters"]]
        assert set(patterns[0]["dynamodb"]["NewImage"]["type"]["S"]) == kinds
        assert patterns[1] == {"eventName": ["REMOVE"], "dynamodb": {"OldImage": {"type": {"S": ["show"]}}}}
        # a seat lock only when it is modified and carries checked_in_at: a check-in (issue 19)
        assert patterns[2] == {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {
            "type": {"S": ["seat"]}, "checked_in_at": {"S": [{"exists": True}]}}}}
    seat = {"type": "seat", "booking_id": "b1"}
    assert events.event_type("MODIFY", seat, {**seat, "checked_in_at": "t"}) == events.CHECKIN_OK
    for name in ("INSERT", "REMOVE"):
        assert events.event_type(name, seat, {**seat, "checked_in_at": "t"}) is None
    # every other item type is no event, whatever happens to it
    for kind in ("webhook_delivery", "webhook", "user", "idempotency", None):
        for name in ("INSERT", "MODIFY", "REMOVE"):
            item = {"type": kind, "status": "cancelled"}
            assert events.event_type(name, item, {**item, "checked_in_at": "t"}) is None


def test_deliveries_are_fed_by_their_queue_with_partial_batch_answers_and_a_dead_letter_queue(templates):
    for template in templates.values():
        (event,) = template["Resources"]["WebhookDeliveries"]["Properties"]["Events"].values()
        assert event["Type"] == "SQS" and event["Properties"]["Queue"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        queue = template["Resources"]["WebhookQueue"]["Properties"]
        assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}
        assert queue["VisibilityTimeout"] > template["Resources"]["WebhookDeliveries"]["Properties"]["Timeout"]
        for name in QUEUES:
            assert template["Resources"][name]["Properties"]["SqsManagedSseEnabled"] is True


def test_the_sweep_runs_every_minute(templates):
    for template in templates.values():
        (event,) = template["Resources"]["Sweep"]["Properties"]["Events"].values()
        assert event == {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}


@pytest.mark.parametrize("function, dynamodb", [
    ("WebhookDeliveries", {"GetItem", "UpdateItem"}), ("Sweep", {"Query", "UpdateItem"})])
def test_delivery_and_sweep_functions_get_only_the_table_operations_they_use(function, dynamodb):
    assert _actions(event_policy(function), "dynamodb") == dynamodb
