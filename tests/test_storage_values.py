"""Item values to and from DynamoDB's attribute format (chalicelib.storage), against boto3's own
TypeSerializer/TypeDeserializer: the fast path must decode exactly what boto3 would."""
from decimal import Decimal

from hypothesis import given, strategies as st

from chalicelib import storage

scalars = (st.text(max_size=20) | st.booleans() | st.none() | st.integers(min_value=-10**20, max_value=10**20)
           | st.floats(allow_nan=False, allow_infinity=False, width=32).filter(lambda f: abs(f) < 1e20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                          max_size=4), max_leaves=12)


def boto3_plain(value):
    """What the item means by boto3's deserializer, with whole numbers as int, others as float."""
    from boto3.dynamodb.types import TypeDeserializer

    def plain(x):
        if isinstance(x, Decimal):
            return int(x) if x == x.to_integral_value() else float(x)
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list):
            return [plain(v) for v in x]
        return x
    return plain(TypeDeserializer().deserialize(value))


@given(st.dictionaries(st.text(min_size=1, max_size=8), values.filter(lambda v: v is not None), max_size=6))
def test_items_read_back_as_boto3_reads_them(plain):
    item = storage.to_item(plain)
    assert storage.from_item(item) == {key: boto3_plain(value) for key, value in item.items()}


def test_numbers_in_dynamodbs_other_spellings_and_sets_decode_like_boto3():
    for value in ({"N": "1E+2"}, {"N": "-0.5"}, {"N": "12.000"}, {"SS": ["a", "b"]}, {"NS": ["1", "2.5"]}):
        assert storage.from_item({"x": value}) == {"x": boto3_plain(value)}
