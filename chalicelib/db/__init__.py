"""Data access: one module per partition or concern, each building the DynamoDB requests for its
items (keys from ``chalicelib.keys``, plumbing from ``chalicelib.storage``). They return plain dicts
(or None for "not there") and raise ``ConditionFailed`` for refused writes; they know nothing of
HTTP and decide no business rule.

Transactions that span several concerns are built by the caller from the modules' ``add_*``/``*_part``
functions on one ``Transaction``.
"""
from chalicelib.storage import (  # noqa: F401  (re-exported for the service modules)
    ConditionFailed, Page, Transaction, TransactionResult, is_unavailable, unavailable)
