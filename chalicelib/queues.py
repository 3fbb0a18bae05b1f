"""The SQS plumbing: the client (made on first use, like storage's) and one send.

Webhook deliveries wait between attempts in an SQS queue (DelaySeconds, at most 15 minutes a hop):
see docs/architecture.md. boto3 picks up AWS_ENDPOINT_URL_SQS itself, which is how the local stack's
engine is chosen.
"""
import functools
import json

from chalicelib.settings import get_settings

MAX_DELAY_SECONDS = 900  # SQS's limit per message


@functools.lru_cache(maxsize=1)
def client():
    import boto3
    from botocore.config import Config

    return boto3.client("sqs", config=Config(retries={"mode": "standard", "total_max_attempts": 3},
                                             connect_timeout=1, read_timeout=5))


def send(body: dict, delay_seconds: float = 0, queue_url: str = None) -> None:
    """Put ``body`` (as JSON) on the delivery queue, visible after ``delay_seconds`` (capped at 15 min)."""
    client().send_message(QueueUrl=queue_url or get_settings().webhook_queue_url,
                          MessageBody=json.dumps(body, separators=(",", ":")),
                          DelaySeconds=max(0, min(MAX_DELAY_SECONDS, int(delay_seconds))))


def reset() -> None:
    client.cache_clear()
