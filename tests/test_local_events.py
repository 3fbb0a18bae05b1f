"""scripts/local_events.py hands stream records to the handler as Lambda's event source mapping does:
in order, partial-batch failures honoured, a raising batch bisected, retries bounded, then the
on-failure destination; the checkpoint survives a restart of the poller."""
import local_events


class Mapping(local_events.StreamMapping):
    """The mapping's delivery logic without an engine: records given, give-ups listed."""

    def __init__(self, handler, checkpoint=None, max_retries=2):
        self.handler, self.checkpoint, self.max_retries = handler, checkpoint or local_events.Checkpoint(), max_retries
        self.backoff, self.given_up, self.failure_queue_url = 0, [], None

    def _give_up(self, records):
        self.given_up.extend(r["dynamodb"]["SequenceNumber"] for r in records)


def records(*numbers):
    return [{"eventID": f"e{n}", "eventName": "INSERT", "dynamodb": {"SequenceNumber": str(n)}} for n in numbers]


def sequence(event):
    return [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]


def test_a_batch_that_succeeds_is_handled_once_in_order_and_checkpointed():
    seen = []
    mapping = Mapping(lambda event, context: seen.append(sequence(event)))
    mapping.deliver(records(1, 2, 3))
    assert seen == [["1", "2", "3"]] and mapping.checkpoint.value == "3"


def test_a_partial_batch_failure_retries_from_the_failed_record_only():
    seen, failures = [], iter([[{"itemIdentifier": "2"}], []])

    def handler(event, context):
        seen.append(sequence(event))
        return {"batchItemFailures": next(failures)}

    mapping = Mapping(handler)
    mapping.deliver(records(1, 2, 3))
    assert seen == [["1", "2", "3"], ["2", "3"]] and mapping.checkpoint.value == "3"


def test_a_raising_handler_has_its_batch_bisected_until_the_bad_record_is_alone():
    seen = []

    def handler(event, context):
        seen.append(sequence(event))
        if "3" in sequence(event):
            raise RuntimeError("bad record")

    mapping = Mapping(handler, max_retries=1)
    mapping.deliver(records(1, 2, 3, 4))
    assert seen[:3] == [["1", "2", "3", "4"], ["1", "2"], ["3", "4"]]
    assert mapping.given_up == ["3"] and ["4"] in seen and mapping.checkpoint.value == "4"


def test_a_record_failing_every_retry_goes_to_the_failure_destination_and_the_rest_continue():
    calls = []

    def handler(event, context):
        calls.append(sequence(event))
        return {"batchItemFailures": [{"itemIdentifier": "1"}]} if "1" in sequence(event) else {}

    mapping = Mapping(handler, max_retries=2)
    mapping.deliver(records(1, 2))
    assert calls == [["1", "2"]] * 3 + [["2"]]
    assert mapping.given_up == ["1"] and mapping.checkpoint.value == "2"


def test_the_checkpoint_is_kept_in_the_data_folder_across_restarts(tmp_path):
    local_events.Checkpoint(str(tmp_path)).save("1100000000017454423041")
    assert local_events.Checkpoint(str(tmp_path)).value == "1100000000017454423041"
    assert local_events.Checkpoint(str(tmp_path), fresh=True).value is None
