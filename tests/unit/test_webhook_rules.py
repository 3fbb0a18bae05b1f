"""domain.webhooks: the Standard Webhooks signature, back-off with jitter, answers, URLs and addresses."""
import base64
import hashlib
import hmac

import pytest

from chalicelib.domain import webhooks
from chalicelib.errors import ValidationError


def test_signature_is_v1_and_base64_hmac_sha256_of_id_timestamp_body():
    secret = b"0123456789abcdef01234567"
    expected = base64.b64encode(hmac.new(secret, b"msg_1.1700000000.{}", hashlib.sha256).digest()).decode()
    assert webhooks.sign(secret, "msg_1", 1700000000, "{}") == "v1," + expected


def test_the_secret_is_shown_as_whsec_and_base64_of_its_bytes():
    secret = webhooks.new_secret()
    assert len(secret) == 24 and webhooks.secret_text(secret) == "whsec_" + base64.b64encode(secret).decode()


def test_default_schedule_retries_for_about_three_days():
    total = sum(webhooks.DEFAULT_RETRY_SCHEDULE)
    assert 2.5 * 86400 < total < 3.5 * 86400 and webhooks.DEFAULT_RETRY_SCHEDULE[:4] == (5, 300, 1800, 7200)


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_each_wait_is_the_schedules_value_within_ten_percent(draw):
    assert 270 <= webhooks.delay_after(2, webhooks.DEFAULT_RETRY_SCHEDULE, draw) <= 330


def test_after_the_last_retry_there_is_no_wait():
    assert webhooks.delay_after(3, (1, 2, 3), 0.5) is not None
    assert webhooks.delay_after(4, (1, 2, 3), 0.5) is None


@pytest.mark.parametrize("status, meaning", [(200, "delivered"), (204, "delivered"), (410, "gone"), (500, "retry"),
                                              (301, "retry"), (None, "retry")])
def test_what_an_answer_means(status, meaning):
    assert webhooks.outcome(status) == meaning


def test_deployed_endpoints_must_be_https_and_local_ones_may_be_http():
    with pytest.raises(ValidationError):
        webhooks.check_url("http://example.com/hook", deployed=True)
    webhooks.check_url("http://127.0.0.1:9000/hook", deployed=False)
    with pytest.raises(ValidationError):
        webhooks.check_url("https://user:pw@example.com/", deployed=True)


@pytest.mark.parametrize("address", ["10.0.0.1", "172.16.3.4", "192.168.1.1", "127.0.0.1", "169.254.169.254",
                                     "100.64.0.1", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "224.0.0.1"])
def test_deployed_deliveries_never_reach_private_loopback_or_link_local_addresses(address):
    assert not webhooks.address_allowed(address, "https", deployed=True)


def test_deployed_deliveries_reach_public_addresses_and_local_http_reaches_loopback_only():
    assert webhooks.address_allowed("93.184.216.34", "https", deployed=True)
    assert webhooks.address_allowed("127.0.0.1", "http", deployed=False)
    assert not webhooks.address_allowed("10.0.0.1", "http", deployed=False)
