"""Webhook endpoints: where a tenant wants its events delivered, signed per Standard Webhooks.

An endpoint has a URL, an optional filter of event types (empty = all), custom headers
(sealed at rest, never shown again) and one or more signing secrets `whsec_…` (32 random
bytes, sealed at rest). Rotating the secret keeps the previous one valid — deliveries are
signed with both — for `TRUSTROOM_WEBHOOKS__SECRET_ROTATION_OVERLAP_SECONDS` (24 h).
URLs must be https (unless allowed by setting) and may not name private, loopback or
link-local addresses unless an allowed network admits them; delivery checks the resolved
address again, since DNS can change.

This domain imports no feature domain: the dispatcher hands it every committed event.
"""
