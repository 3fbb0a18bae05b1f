"""The outbox handler in process: stream records in, events to consumers in order, the first failure
answered as the partial-batch failure (so the mapping retries from it and keeps the order)."""
from chalicelib import outbox, storage


def record(sequence, event_name, new, old=None, event_id=None):
    images = {"NewImage": storage.to_item(new)} if new else {}
    if old:
        images["OldImage"] = storage.to_item(old)
    return {"eventID": event_id or f"id{sequence}", "eventName": event_name,
            "dynamodb": {"SequenceNumber": str(sequence), "ApproximateCreationDateTime": 1764612000.25, **images}}


def booking(booking_id, status="booked"):
    return {"PK": "USER#alice", "SK": f"BOOKING#{booking_id}", "type": "booking", "id": booking_id, "show": 1,
            "seat_number": 3, "status": status, "user": "alice"}


def test_events_reach_consumers_in_stream_order_and_meaningless_changes_are_skipped(monkeypatch):
    seen = []
    monkeypatch.setattr(outbox.webhooks, "endpoints", lambda: [])
    monkeypatch.setattr(outbox.webhooks, "fan_out", lambda event, endpoints: seen.append((event["type"], event["id"])))
    monkeypatch.setattr(outbox.waitlist, "on_event", lambda event: None)
    answer = outbox.handle_batch([
        record(1, "INSERT", booking("b1")),
        record(2, "INSERT", {"PK": "SHOW#00000001", "SK": "SEAT#0003", "type": "seat"}),
        record(3, "MODIFY", booking("b1", "cancelled"), old=booking("b1")),
    ])
    assert answer == {"batchItemFailures": []}
    assert seen == [("booking.created", "evt_id1"), ("booking.cancelled", "evt_id3")]


def test_the_first_failing_record_is_the_batch_failure_and_nothing_after_it_is_handled(monkeypatch):
    seen = []

    def fan_out(event, endpoints):
        if event["data"]["id"] == "b2":
            raise RuntimeError("receiver table unavailable")
        seen.append(event["data"]["id"])

    monkeypatch.setattr(outbox.webhooks, "endpoints", lambda: [])
    monkeypatch.setattr(outbox.webhooks, "fan_out", fan_out)
    monkeypatch.setattr(outbox.waitlist, "on_event", lambda event: None)
    answer = outbox.handle_batch([record(1, "INSERT", booking("b1")), record(2, "INSERT", booking("b2")),
                                  record(3, "INSERT", booking("b3"))])
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert seen == ["b1"]


def test_the_event_carries_the_records_time_and_the_same_id_when_the_record_is_redelivered(monkeypatch):
    seen = []
    monkeypatch.setattr(outbox.webhooks, "endpoints", lambda: [])
    monkeypatch.setattr(outbox.webhooks, "fan_out", lambda event, endpoints: seen.append(event))
    monkeypatch.setattr(outbox.waitlist, "on_event", lambda event: None)
    for _ in range(2):
        outbox.handle_batch([record(7, "INSERT", booking("b7"), event_id="abc")])
    assert seen[0] == seen[1] and seen[0]["id"] == "evt_abc"
    assert seen[0]["timestamp"] == "2025-12-01T18:00:00.250Z"


def test_the_webhook_endpoints_are_read_once_per_batch_and_not_for_a_batch_without_events(monkeypatch):
    reads, handed = [], []
    monkeypatch.setattr(outbox.webhooks, "endpoints", lambda: reads.append(1) or ["endpoint"])
    monkeypatch.setattr(outbox.webhooks, "fan_out", lambda event, endpoints: handed.append(endpoints))
    monkeypatch.setattr(outbox.waitlist, "on_event", lambda event: None)
    outbox.handle_batch([record(n, "INSERT", booking(f"b{n}")) for n in range(1, 6)])
    assert reads == [1] and handed == [["endpoint"]] * 5
    outbox.handle_batch([record(9, "INSERT", {"PK": "SHOW#00000001", "SK": "SEAT#0003", "type": "seat"})])
    assert reads == [1]
