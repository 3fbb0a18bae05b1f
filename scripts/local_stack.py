"""The local stack's processes: the serialised DynamoDB endpoint and `chalice local`, each started in its
own process group and stopped with everything it forked.

Shared by `make run` (scripts/run_local.py), the `live_stack` test fixture and the benchmarks (bench/stack.py).
"""
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = "127.0.0.1"


def free_port(host=HOST):
    """A currently free port (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port, host=HOST):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def dynamodb_command(port, host=HOST):
    return [sys.executable, os.path.join(HERE, "local_dynamodb.py"), "--host", host, "--port", str(port)]


def chalice_local_command(port, host=HOST):
    return [sys.executable, os.path.join(HERE, "chalice_local.py"), "local", "--stage", "local",
            "--no-autoreload", "--host", host, "--port", str(port)]


def start(command, env=None, log_path=None):
    """Start ``command`` in its own process group (so stopping it also stops its children)."""
    log = open(log_path, "wb") if log_path else None
    try:
        return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                                stdin=subprocess.DEVNULL if log else None,
                                stdout=log, stderr=subprocess.STDOUT if log else None)
    finally:
        if log:
            log.close()


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
