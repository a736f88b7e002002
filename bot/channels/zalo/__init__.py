"""Zalo Official Account: the same conversation on Vietnam's most used messaging app.

`signature` checks each webhook event, `events` turns an event into an `Inbound`, `api` talks
to the OA API (and keeps its single-use refresh token safe), `outbox` delivers `Outbound`
messages within Zalo's rules, `warnings` sends scam warnings within Zalo's per-follower quota,
and `channel` ties them to the durable inbox (docs/zalo.md).
"""

CHANNEL = "zalo"
