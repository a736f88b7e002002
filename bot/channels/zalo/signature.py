"""The `X-ZEvent-Signature` of Zalo OA webhook events, kept apart so it can be corrected alone.

From the Zalo OA docs (as restated by integrations that use them, docs/zalo.md): the header is
`mac=` followed by the hex SHA-256 of the app id, the raw body, the event's timestamp and the
OA secret key, concatenated; the app id and the timestamp are the body's own `app_id` and
`timestamp` fields. A plain hash, not an HMAC: that is how Zalo defines it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

HEADER = "X-ZEvent-Signature"


def sign(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    """The header value Zalo sends with `body`."""
    digest = hashlib.sha256(
        app_id.encode() + body + timestamp.encode() + oa_secret.encode()
    ).hexdigest()
    return f"mac={digest}"


def verify(header: str | None, body: bytes, oa_secret: str, app_id: str | None = None) -> bool:
    """Whether `header` signs `body` with `oa_secret` (and, if given, comes from `app_id`).

    The comparison takes constant time; a body that is not a JSON object, or lacks its app id
    or timestamp, is refused.
    """
    if not header or not oa_secret:
        return False
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    sender_app, timestamp = data.get("app_id"), data.get("timestamp")
    if sender_app is None or timestamp is None:
        return False
    if app_id is not None and str(sender_app) != app_id:
        return False
    expected = sign(str(sender_app), body, str(timestamp), oa_secret)
    return hmac.compare_digest(header.strip().encode(), expected.encode())
