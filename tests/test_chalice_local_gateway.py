"""scripts/chalice_local.py over HTTP: the gateway's own errors in the project's JSON shape, and the real client address."""
import http.client
import json
import os
import re

import pytest

import local_stack

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def request(base_url, method, path, source_address=None):
    host, port = base_url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30,
                                            source_address=(source_address, 0) if source_address else None)
    try:
        connection.request(method, path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_unknown_route_answers_404_not_found_in_the_error_shape(live_stack):
    status, headers, body = request(live_stack.base_url, "GET", "/no-such-route/here")
    assert status == 404
    assert set(body) == {"Code", "Message", "request_id"}
    assert (body["Code"], body["Message"]) == ("NotFound", "No such route.")
    assert REQUEST_ID.match(body["request_id"]) and headers["X-Request-Id"] == body["request_id"]


def test_unknown_route_with_a_token_is_still_404_not_403(live_stack):
    host, port = live_stack.base_url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", "/nowhere", headers={"Authorization": "Bearer whatever"})
    response = connection.getresponse()
    assert response.status == 404 and json.loads(response.read())["Code"] == "NotFound"
    connection.close()


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/movies/", "GET, POST"),
    ("DELETE", "/shows/1/book", "POST"),
    ("GET", "/signup", "POST"),
])
def test_unsupported_method_answers_405_method_not_allowed_with_allow(live_stack, method, path, allowed):
    status, headers, body = request(live_stack.base_url, method, path)
    assert status == 405
    assert set(body) == {"Code", "Message", "request_id"} and body["Code"] == "MethodNotAllowed"
    assert method in body["Message"] and headers["Allow"] == allowed
    assert REQUEST_ID.match(body["request_id"])


SOURCE_IP_APP = '''
from chalice import Chalice

app = Chalice(app_name="source-ip-probe")


@app.route("/whoami")
def whoami():
    return {"sourceIp": app.current_request.context["identity"]["sourceIp"]}
'''


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """A throwaway Chalice app that echoes requestContext.identity.sourceIp, under scripts/chalice_local.py."""
    project = tmp_path_factory.mktemp("source-ip-probe")
    (project / "app.py").write_text(SOURCE_IP_APP)
    (project / ".chalice").mkdir()
    (project / ".chalice" / "config.json").write_text(json.dumps(
        {"version": "2.0", "app_name": "source-ip-probe", "stages": {"local": {}}}))
    sock = local_stack.listen(0)
    port = sock.getsockname()[1]
    command = local_stack.chalice_local_command(port, listen_fd=sock.fileno())
    command.insert(command.index("local"), "--project-dir")  # an option of chalice itself, before "local"
    command.insert(command.index("local"), str(project))
    process = local_stack.start(command, env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
                                log_path=str(project / "chalice.log"), pass_fds=[sock.fileno()])
    sock.close()
    try:
        local_stack.wait_until_answering(port, process, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        local_stack.stop([process])


@pytest.mark.parametrize("client_address", ["127.0.0.2", "127.0.0.3"])
def test_source_ip_is_the_address_the_client_connected_from(probe, client_address):
    status, _, body = request(probe, "GET", "/whoami", source_address=client_address)
    assert status == 200 and body == {"sourceIp": client_address}
