"""`make run` (scripts/run_local.py): its ports are its own, bad settings are one line, and its data outlives Ctrl-C."""
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

import local_stack

RUN_LOCAL = os.path.join(local_stack.HERE, "run_local.py")


def clean_env(tmp_path, **settings):
    """No AWS settings from outside; fast bcrypt; a private data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in (
        "STAGE", "TABLE_NAME", "JWT_SECRET", "JWT_SECRET_PARAM", "PORT", "HOST", "DYNAMODB_PORT", "FRESH")}
    env.update(BCRYPT_ROUNDS="4", LOCAL_DATA_DIR=str(tmp_path / "local-data"), PYTHONUNBUFFERED="1",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true")
    env.update(settings)
    return env


def run_to_exit(env, timeout=60):
    return subprocess.run([sys.executable, RUN_LOCAL], env=env, capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)


def assert_one_line_failure(result, *phrases):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "API:" not in result.stdout


class Running:
    """scripts/run_local.py until the banner, then stopped with ``stop(signal)``."""

    def __init__(self, env):
        self.process = subprocess.Popen([sys.executable, RUN_LOCAL], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.output = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError("make run exited before its banner:\n" + "".join(self.output))
            self.output.append(line)
            if "Ctrl-C stops" in line:
                break
        self.base_url = f"http://127.0.0.1:{env['PORT']}"
        threading.Thread(target=lambda: [self.output.append(x) for x in self.process.stdout], daemon=True).start()

    def call(self, method, path, body=None, token=None):
        request = urllib.request.Request(self.base_url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json",
                                                  **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self, signum=signal.SIGINT):
        os.kill(self.process.pid, signum)  # as Ctrl-C does to the foreground process (not its children)
        return self.process.wait(timeout=60)


def free_ports(count):
    sockets = [local_stack.listen(0) for _ in range(count)]
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return [str(p) for p in ports]


def ports_closed(ports, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        closed = []
        for port in ports:
            with socket.socket() as probe:
                closed.append(probe.connect_ex(("127.0.0.1", int(port))) != 0)
        if all(closed):
            return True
        time.sleep(0.2)
    return False


def test_account_and_booking_survive_ctrl_c_and_the_next_make_run(tmp_path):
    """Then that second `make run` is killed (SIGKILL): its children must not go on serving its ports."""
    api_port, ddb_port = free_ports(2)
    env = clean_env(tmp_path, PORT=api_port, DYNAMODB_PORT=ddb_port)
    first = Running(env)
    assert first.call("POST", "/signup", {"username": "keeper", "password": "secret"})[0] == 201
    token = first.call("POST", "/login", {"username": "keeper", "password": "secret"})[1]["access"]
    status, booking = first.call("POST", "/shows/1/book", {"seat_number": 3}, token)
    assert status == 201
    assert first.stop(signal.SIGINT) == 0

    second = Running(env)
    try:
        status, tokens = second.call("POST", "/login", {"username": "keeper", "password": "secret"})
        assert status == 200
        status, mine = second.call("GET", "/my-bookings", token=tokens["access"])
        assert status == 200 and [b["id"] for b in mine] == [booking["id"]]
        assert any("demo data: 0 created" in line for line in second.output)  # not loaded twice
    finally:
        second.process.kill()  # no cleanup in make run itself
        second.process.wait(timeout=30)
    assert ports_closed([api_port, ddb_port]), "the children of a killed make run still serve its ports"


def test_a_taken_port_is_one_line_and_no_banner(tmp_path):
    taken = local_stack.listen(0)
    try:
        result = run_to_exit(clean_env(tmp_path, PORT=str(taken.getsockname()[1])))
    finally:
        taken.close()
    assert_one_line_failure(result, "Address already in use", "PORT=")


class Impostor(http.server.ThreadingHTTPServer):
    """Another program on the DynamoDB port: it would happily answer, and records what it is sent."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(self.headers.get("X-Amz-Target"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_another_program_on_the_dynamodb_port_gets_no_data(tmp_path):
    impostor = Impostor()
    try:
        (api_port,) = free_ports(1)
        result = run_to_exit(clean_env(tmp_path, PORT=api_port, DYNAMODB_PORT=str(impostor.server_address[1])))
    finally:
        impostor.shutdown()
    assert_one_line_failure(result, "Address already in use", "DYNAMODB_PORT=")
    assert impostor.received == []


def test_a_remote_endpoint_without_credentials_is_one_line_saying_what_to_set(tmp_path):
    # Fails on the missing credentials, before any request: nothing is sent anywhere.
    env = clean_env(tmp_path, AWS_ENDPOINT_URL_DYNAMODB="https://dynamodb.eu-west-1.amazonaws.com")
    assert_one_line_failure(run_to_exit(env), "no AWS credentials", "AWS_PROFILE", "AWS_ACCESS_KEY_ID")


def test_a_malformed_endpoint_url_is_one_line(tmp_path):
    env = clean_env(tmp_path, AWS_ENDPOINT_URL_DYNAMODB="localhost:8001")
    assert_one_line_failure(run_to_exit(env), "AWS_ENDPOINT_URL_DYNAMODB must be a URL")


def test_a_loopback_endpoint_without_credentials_works_with_dummy_ones(tmp_path):
    sock = local_stack.listen(0)
    endpoint = local_stack.start(local_stack.dynamodb_command(sock.getsockname()[1], listen_fd=sock.fileno()),
                                 pass_fds=[sock.fileno()], log_path=str(tmp_path / "endpoint.log"))
    try:
        local_stack.wait_until_answering(sock.getsockname()[1], endpoint)
        (api_port,) = free_ports(1)
        running = Running(clean_env(tmp_path, PORT=api_port,
                                    AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{sock.getsockname()[1]}"))
        try:
            status, movies = running.call("GET", "/movies")
            assert status == 200 and len(movies) == 4
        finally:
            running.stop()
    finally:
        local_stack.stop([endpoint])
        sock.close()


def test_serving_beyond_loopback_with_the_development_secret_warns(tmp_path):
    # The port is taken on 127.0.0.1, so binding 0.0.0.0 fails: nothing is ever exposed here.
    taken = local_stack.listen(0)
    try:
        port = str(taken.getsockname()[1])
        warned = run_to_exit(clean_env(tmp_path, HOST="0.0.0.0", PORT=port))
        with_secret = run_to_exit(clean_env(tmp_path, HOST="0.0.0.0", PORT=port, JWT_SECRET="s" * 40))
    finally:
        taken.close()
    warning, failure = warned.stderr.strip().splitlines()
    assert "warning: HOST=0.0.0.0" in warning and "set JWT_SECRET" in warning
    assert "Address already in use" in failure
    assert_one_line_failure(with_secret, "Address already in use")


@pytest.mark.parametrize("setting", [{"PORT": "eighty"}, {"PORT": "70000"}, {"DYNAMODB_PORT": "-1"}])
def test_a_bad_port_setting_is_one_line(tmp_path, setting):
    assert_one_line_failure(run_to_exit(clean_env(tmp_path, **setting)), "must be a port number")
