"""The local stack's processes: the serialised DynamoDB endpoint, `chalice local` and the event sources
(scripts/local_events.py), each started in its own process group and stopped with everything it forked.

Shared by `make run` (scripts/run_local.py), the `live_stack` test fixture and the benchmarks (bench/stack.py).
`make run` binds its ports itself (``listen``) and hands the listening sockets to the children
(``--listen-fd``), so whatever answers on those ports is its own child.
"""
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = "127.0.0.1"


def free_port(host=HOST):
    """A currently free port (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PortInUse(OSError):
    """The address is taken (or cannot be bound); the message says which and what to do."""


def listen(port, host=HOST, backlog=128, setting=None):
    """A listening TCP socket on ``host:port`` that child processes can inherit.

    ``setting`` names the variable that chose the port, for the error message.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As every server here does: a port left in TIME_WAIT by the last run can be bound again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        hint = f"; free it or choose another with {setting}=..." if setting else ""
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.set_inheritable(True)
    return sock


def dynamodb_command(port, host=HOST, listen_fd=None, data_dir=None, fresh=False, parent_pid=None, stock_moto=False):
    command = [sys.executable, os.path.join(HERE, "local_dynamodb.py"), "--host", host, "--port", str(port)]
    if stock_moto:
        command.append("--stock-moto")
    if listen_fd is not None:
        command += ["--listen-fd", str(listen_fd)]
    if data_dir:
        command += ["--data-dir", data_dir] + (["--fresh"] if fresh else [])
    if parent_pid:
        command += ["--parent-pid", str(parent_pid)]
    return command


def chalice_local_command(port, host=HOST, listen_fd=None, parent_pid=None):
    command = [sys.executable, os.path.join(HERE, "chalice_local.py")]
    if listen_fd is not None:
        command += ["--listen-fd", str(listen_fd)]
    if parent_pid:
        command += ["--parent-pid", str(parent_pid)]
    return command + ["local", "--stage", "local", "--no-autoreload", "--host", host, "--port", str(port)]


def events_command(data_dir=None, fresh=False, parent_pid=None):
    """scripts/local_events.py: the stream, queue and schedule event sources of the local stack."""
    command = [sys.executable, os.path.join(HERE, "local_events.py")]
    if data_dir:
        command += ["--data-dir", data_dir] + (["--fresh"] if fresh else [])
    if parent_pid:
        command += ["--parent-pid", str(parent_pid)]
    return command


def start(command, env=None, log_path=None, pass_fds=()):
    """Start ``command`` in its own process group (so stopping it also stops its children)."""
    log = open(log_path, "wb") if log_path else None
    try:
        return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, pass_fds=pass_fds,
                                stdin=subprocess.DEVNULL if log else None,
                                stdout=log, stderr=subprocess.STDOUT if log else None)
    finally:
        if log:
            log.close()


def wait_until_answering(port, process, timeout=60.0, host=HOST, path="/"):
    """Return once an HTTP request to ``host:port`` gets any answer; RuntimeError if ``process`` dies first.

    With an inherited socket a connection succeeds as soon as the parent listens, so only an answer
    shows that the child is serving.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited with code {process.returncode}")
        connection = http.client.HTTPConnection(host, port, timeout=1)
        try:
            connection.request("GET", path)
            connection.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            connection.close()
    raise RuntimeError(f"nothing answering on {host}:{port} after {timeout:.0f}s")


def exit_with_parent(parent_pid, interval=0.5):
    """SIGTERM this process (a clean stop) once ``parent_pid`` is no longer its parent.

    The children run in their own sessions (so that stopping one stops what it forked); without this a
    killed `make run` would leave them serving its ports and holding its data folder.
    """
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def wait_for_port(port, process, timeout=60.0, host=HOST):
    """Return once something listens on ``port``; RuntimeError if ``process`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited with code {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def stop(processes, timeout=5):
    """SIGTERM each process group, then SIGKILL any that outlive ``timeout``."""
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=timeout)


def _signal_group(process, signum):
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
