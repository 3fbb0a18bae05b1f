"""`make run` killed (SIGKILL, every process) in the middle of a stream of bookings, then started again:
no booking's event is lost, and an event delivered twice carries the same webhook-id both times."""
import os
import signal
import subprocess
import sys
import threading

from test_events_live import Receiver, eventually
from test_run_local import Running, clean_env, free_ports

import local_stack


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def kill_everything(running):
    """SIGKILL make run and each of its children's process groups at once: nothing stops cleanly."""
    for child in children(running.process.pid):
        try:
            os.killpg(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    running.process.kill()
    running.process.wait(timeout=30)


def test_killed_and_restarted_make_run_loses_no_event_and_repeats_one_only_with_its_webhook_id(tmp_path):
    api_port, ddb_port = free_ports(2)
    env = clean_env(tmp_path, PORT=api_port, DYNAMODB_PORT=ddb_port, SWEEP_SECONDS="0.5",
                    WEBHOOK_RETRY_SCHEDULE="0.2,0.2,0.2", WEBHOOK_REDRIVE_AFTER_SECONDS="1", EVENTS_POLL_SECONDS="0.05")
    receiver = Receiver()
    first = Running(env)
    try:
        cli_env = {**env, "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{ddb_port}", "AWS_ACCESS_KEY_ID": "local",
                   "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
        subprocess.run([sys.executable, "-m", "chalicelib.cli", "create-admin", "restartadmin", "--password-stdin"],
                       input="restart-admin-pw\n", text=True, cwd=local_stack.ROOT, env=cli_env, check=True,
                       timeout=60, capture_output=True)
        admin = first.call("POST", "/login", {"username": "restartadmin", "password": "restart-admin-pw"})[1]["access"]
        assert first.call("POST", "/webhooks", {"url": receiver.url, "events": ["booking.created"]}, admin)[0] == 201
        assert first.call("POST", "/signup", {"username": "streamer", "password": "secret-pw"})[0] == 201
        customer = first.call("POST", "/login", {"username": "streamer", "password": "secret-pw"})[1]["access"]

        booked, stop = [], threading.Event()

        def book_until_killed():
            for show in (2, 3, 4):
                for seat in range(1, 11):  # a customer may have 10 seats of a show
                    if stop.is_set():
                        return
                    try:
                        status, body = first.call("POST", f"/shows/{show}/book", {"seat_number": seat}, customer)
                    except OSError:
                        return  # the stack is gone
                    if status == 201:
                        booked.append(body["id"])

        writer = threading.Thread(target=book_until_killed)
        writer.start()
        assert eventually(lambda: len(booked) >= 5 and receiver.events("booking.created"), seconds=30)
        kill_everything(first)  # in the middle: some bookings answered, their events not all delivered
        stop.set()
        writer.join(timeout=30)
        assert booked
    finally:
        if first.process.poll() is None:
            kill_everything(first)

    second = Running(env)
    try:
        status, body = second.call("POST", "/shows/5/book", {"seat_number": 1}, customer)
        assert status == 201
        booked.append(body["id"])

        def received():
            return {e["data"]["id"] for _, e in receiver.events("booking.created")} >= set(booked)

        assert eventually(received, seconds=30), "an answered booking's event was lost"
        ids_by_booking = {}
        for headers, event in receiver.events("booking.created"):
            ids_by_booking.setdefault(event["data"]["id"], set()).add(headers["webhook-id"])
        assert all(len(ids) == 1 for ids in ids_by_booking.values()), "a repeated event had a new webhook-id"
    finally:
        second.stop(signal.SIGINT)
        receiver.close()
