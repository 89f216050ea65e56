"""Outbound messages: email and SMS to clients (verification keys, later links and codes).

A domain queues a message in its own transaction (`service.queue`); the row holds the
content sealed with the server key, and a job sends it once the transaction commits, so
no message leaves for a change that was rolled back. Email goes over SMTP when a host is
configured, SMS through an HTTP gateway when one is configured; otherwise both go to the
local outbox, files under `<data dir>/outbox/` that the operator (and the tests) read.

Life cycle of a message: queued → sent | failed. Once it is sent or has failed for good,
the sealed content is erased; the row keeps the channel, purpose, masked recipient and
outcome. `purge_about` deletes every message about a record (anonymization).
"""
