"""Claro webhooks: registered ids, signed outbox records (Claro API reference, "Webhook
Notifications").

A task created with a ``webhookId`` notifies that webhook once, when it ends
``completed`` or ``failed`` (not on cancel; docs/claro.md, "Webhooks").  taskcore does
no network I/O: the service writes an :class:`OutboxRecord` in the same unit of work as
the terminal transition (keyed by task id, so exactly once), and a delivery worker at the
edge POSTs ``record.body`` to ``record.url`` with the ``X-Taskcore-Signature`` header.
The signature is ``sha256=`` + hex HMAC-SHA256 of the exact body bytes under the webhook's
secret; receivers check it with :func:`verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import attrs

__all__ = ["SIGNATURE_HEADER", "OutboxRecord", "Webhook", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Taskcore-Signature"
"""The header a delivery worker sends the signature in."""


@attrs.frozen
class Webhook:
    """A registered webhook: where to POST, and the secret that signs the body."""

    webhook_id: str
    account_id: str
    url: str
    secret: str = attrs.field(repr=False)

    def to_doc(self) -> dict[str, str]:
        """The JSON document a store keeps."""
        return {"accountId": self.account_id, "url": self.url, "secret": self.secret}

    @classmethod
    def from_doc(cls, webhook_id: str, doc: dict[str, str]) -> Webhook:
        """Rebuild from :meth:`to_doc`'s document."""
        return cls(webhook_id, doc["accountId"], doc["url"], doc["secret"])


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body under secret>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, body: bytes, signature: object) -> bool:
    """Whether ``signature`` is :func:`sign` of ``body`` (constant-time comparison).

    Args:
        secret: the webhook's secret.
        body: the exact body bytes received.
        signature: the ``X-Taskcore-Signature`` header's raw text, whatever it holds
            (empty, non-ASCII, a lone surrogate, huge, or not text at all): anything but
            the signature is simply ``False``, never an error.

    Returns:
        ``True`` only when ``signature`` is exactly ``sign(secret, body)``.
    """
    if not isinstance(signature, str):  # bytes, None: a caller's slip, still no error
        return False
    expected = sign(secret, body).encode("ascii")
    given = signature.encode("utf-8", "surrogatepass")  # any str has bytes; bytes compare
    return hmac.compare_digest(expected, given)


@attrs.frozen
class OutboxRecord:
    """One notification waiting to be delivered.

    Attributes:
        task_id: the task that ended (one record per task, ever).
        webhook_id: the webhook to notify.
        url: where to POST.
        body: the exact JSON body (the documented payload).
        signature: :func:`sign` of ``body`` under the webhook's secret.
        created_at: ISO 8601 instant of the terminal transition.
        delivered: whether a delivery worker acknowledged it.
    """

    task_id: str
    webhook_id: str
    url: str
    body: bytes
    signature: str
    created_at: str
    delivered: bool = False

    @classmethod
    def for_payload(
        cls, webhook: Webhook, task_id: str, payload: dict[str, Any], created_at: str
    ) -> OutboxRecord:
        """Serialise ``payload`` once and sign those exact bytes."""
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return cls(task_id, webhook.webhook_id, webhook.url, body, sign(webhook.secret, body),
                   created_at)  # fmt: skip

    def payload(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)

    def to_doc(self) -> dict[str, Any]:
        """The JSON document a store keeps."""
        return {
            "webhookId": self.webhook_id,
            "url": self.url,
            "body": self.body.decode("utf-8"),
            "signature": self.signature,
            "createdAt": self.created_at,
            "delivered": self.delivered,
        }

    @classmethod
    def from_doc(cls, task_id: str, doc: dict[str, Any]) -> OutboxRecord:
        """Rebuild from :meth:`to_doc`'s document."""
        return cls(task_id, doc["webhookId"], doc["url"], doc["body"].encode("utf-8"),
                   doc["signature"], doc["createdAt"], doc["delivered"])  # fmt: skip
