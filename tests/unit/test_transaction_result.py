"""Reading a cancelled transaction by the names of its parts (chalicelib.storage.TransactionResult)."""
from chalicelib.storage import TransactionResult


def test_a_committed_transaction_has_no_failed_part():
    result = TransactionResult()
    assert result.ok and not result.failed("show") and result.old("show") is None


def test_parts_are_read_by_name_with_the_item_that_blocked_them():
    holder = {"seat_number": 5, "user": "bob"}
    result = TransactionResult({("seat", 5): ("ConditionalCheckFailed", holder)})
    assert not result.ok
    assert result.failed(("seat", 5)) and result.old(("seat", 5)) == holder
    assert not result.failed(("seat", 6)) and not result.failed("show")
    assert result.failed_names() == [("seat", 5)]
