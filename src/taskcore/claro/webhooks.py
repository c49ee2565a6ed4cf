"""Claro webhooks: registered ids, signed outbox records (Claro API reference, "Webhook
Notifications").

A task created with a ``webhookId`` notifies that webhook once, when it ends
``completed`` or ``failed`` (not on cancel; docs/claro.md, "Webhooks").  taskcore does
no network I/O: the service writes an :class:`OutboxRecord` in the same unit of work as
the terminal transition (keyed by task id, so exactly once), and a delivery worker at the
edge (:class:`taskcore.delivery.Dispatcher`) POSTs ``record.body`` to ``record.url``.

Two signatures go with each request (docs/server.md, "Webhook delivery"):

- Claro style, in ``X-Webhook-Signature`` (and, as taskcore sent it before, in
  ``X-Taskcore-Signature``): ``sha256=`` + hex HMAC-SHA256 of the exact body bytes under
  the webhook's secret; receivers check it with :func:`verify_signature`.
- Standard Webhooks (https://www.standardwebhooks.com/): ``webhook-id`` (the record's
  :attr:`OutboxRecord.message_id`, the same on every retry), ``webhook-timestamp`` (Unix
  seconds of the attempt) and ``webhook-signature`` ``v1,<base64 HMAC-SHA256 of
  "id.timestamp.body">`` under a key derived from the webhook's secret, which a receiver
  gets as a ``whsec_`` secret from :func:`standard_secret`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import urlsplit

import attrs

__all__ = [
    "CLARO_SIGNATURE_HEADER",
    "MAX_ERROR_LENGTH",
    "SIGNATURE_HEADER",
    "OutboxRecord",
    "Webhook",
    "message_id",
    "sign",
    "sign_standard",
    "standard_key",
    "standard_secret",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Taskcore-Signature"
"""The header taskcore first sent the Claro-style signature in (still sent)."""
CLARO_SIGNATURE_HEADER = "X-Webhook-Signature"
"""The header the Claro-style signature is sent in (the same value as
:data:`SIGNATURE_HEADER`)."""
MAX_ERROR_LENGTH = 500
"""The most characters of an attempt's error text a record keeps."""
_STANDARD_CONTEXT = b"taskcore standard-webhooks v1"
"""What the Standard Webhooks key is derived with: HMAC-SHA256(secret, this)."""


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


def standard_key(secret: str) -> bytes:
    """The Standard Webhooks signing key of a webhook: the 32 bytes of
    HMAC-SHA256 of ``b"taskcore standard-webhooks v1"`` under the UTF-8 ``secret``.

    A key of its own (not the secret itself) keeps the two signature schemes apart.
    """
    return hmac.new(secret.encode("utf-8"), _STANDARD_CONTEXT, hashlib.sha256).digest()


def standard_secret(secret: str) -> str:
    """The ``whsec_`` secret a Standard Webhooks receiver verifies with:
    ``"whsec_" + base64(standard_key(secret))``, e.g. ``standardwebhooks.Webhook(
    standard_secret(secret)).verify(body, headers)``."""
    return "whsec_" + base64.b64encode(standard_key(secret)).decode("ascii")


def sign_standard(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "msg_id.timestamp.body" under key>``: the
    ``webhook-signature`` header (``timestamp`` in whole Unix seconds, UTC)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def message_id(task_id: str, created_at: str) -> str:
    """The ``webhook-id`` of a notification: ``msg_`` + 32 hex digits of SHA-256 of the
    task id and the record's creation instant.  The same on every retry and after a
    restart, so receivers dedupe on it; header-safe whatever the task id holds."""
    digest = hashlib.sha256(f"{task_id}\x00{created_at}".encode("utf-8", "surrogatepass"))
    return "msg_" + digest.hexdigest()[:32]


def verify_signature(secret: str, body: bytes, signature: object) -> bool:
    """Whether ``signature`` is :func:`sign` of ``body`` (constant-time comparison).

    Args:
        secret: the webhook's secret.
        body: the exact body bytes received.
        signature: the ``X-Webhook-Signature`` (or ``X-Taskcore-Signature``) header's
            raw text, whatever it holds (empty, non-ASCII, a lone surrogate, huge, or
            not text at all): anything but the signature is simply ``False``, never an
            error.

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
    """One notification: pending, delivered or given up.

    Attributes:
        task_id: the task that ended (one record per task, ever).
        webhook_id: the webhook to notify.
        url: where to POST.
        body: the exact JSON body (the documented payload).
        signature: :func:`sign` of ``body`` under the webhook's secret.
        created_at: ISO 8601 instant of the terminal transition.
        delivered: whether a receiver acknowledged it (a 2xx answer).
        attempts: how many delivery attempts were recorded.
        next_attempt_at: ISO 8601 instant (UTC) from which a pending record is due (or,
            while a dispatcher holds it, when its claim lapses); ``None`` once delivered
            or given up.
        last_error: what the last failed attempt met (a status or a network error,
            at most :data:`MAX_ERROR_LENGTH` characters), or ``None``.
        gave_up: whether delivery stopped after the last attempt of the schedule.
        signing_key: the Standard Webhooks key (:func:`standard_key`) on a pending record
            read from the service, for the dispatcher; empty otherwise.  Never stored,
            shown or compared.
    """

    task_id: str
    webhook_id: str
    url: str
    body: bytes
    signature: str
    created_at: str
    delivered: bool = False
    attempts: int = 0
    next_attempt_at: str | None = None
    last_error: str | None = None
    gave_up: bool = False
    signing_key: bytes = attrs.field(default=b"", repr=False, eq=False)

    @classmethod
    def for_payload(
        cls, webhook: Webhook, task_id: str, payload: dict[str, Any], created_at: str
    ) -> OutboxRecord:
        """Serialise ``payload`` once and sign those exact bytes."""
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return cls(task_id, webhook.webhook_id, webhook.url, body, sign(webhook.secret, body),
                   created_at, signing_key=standard_key(webhook.secret))  # fmt: skip

    @property
    def message_id(self) -> str:
        """The ``webhook-id`` header: :func:`message_id` of this record."""
        return message_id(self.task_id, self.created_at)

    def payload(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)

    def to_doc(self) -> dict[str, Any]:
        """The JSON document a store keeps (never the signing key)."""
        return {
            "webhookId": self.webhook_id,
            "url": self.url,
            "body": self.body.decode("utf-8"),
            "signature": self.signature,
            "createdAt": self.created_at,
            "delivered": self.delivered,
            "attempts": self.attempts,
            "nextAttemptAt": self.next_attempt_at,
            "lastError": self.last_error,
            "gaveUp": self.gave_up,
        }

    @classmethod
    def from_doc(cls, task_id: str, doc: dict[str, Any]) -> OutboxRecord:
        """Rebuild from :meth:`to_doc`'s document (one written before attempts were
        counted reads as no attempt yet)."""
        return cls(task_id, doc["webhookId"], doc["url"], doc["body"].encode("utf-8"),
                   doc["signature"], doc["createdAt"], doc["delivered"],
                   doc.get("attempts", 0), doc.get("nextAttemptAt"), doc.get("lastError"),
                   doc.get("gaveUp", False))  # fmt: skip


_UNSENDABLE = re.compile(r"[\s\x00-\x1f\x7f]")
"""Characters a request line cannot carry (whitespace and controls)."""


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's address, or ``None`` when it can: not http or
    https, a port that is not 0..65535, no host, whitespace or control characters, or
    text that is not ASCII (percent-encode it).  The check registration and delivery
    share, so an address that could never be delivered to is refused up front."""
    if _UNSENDABLE.search(url) or not url.isascii():
        return "the URL holds characters a request cannot carry (percent-encode them)"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return f"not an http or https URL: scheme {parts.scheme.lower()!r}"
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        return "the URL's port is not a number from 0 to 65535"
    if not parts.hostname:
        return "the URL names no host"
    return None
