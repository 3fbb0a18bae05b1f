"""The booking rules, on plain data: no boto3, no Chalice, no I/O — only the standard library and
``chalicelib.errors``. Time comes in as an argument (``now``, epoch seconds), never from a clock.

Unit-tested in seconds under tests/unit/ (tests/unit/test_layers.py enforces the import rule).
"""
