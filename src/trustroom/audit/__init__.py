"""The audit log: who did what to which record, and when, for every change.

`service.record(...)` is called by the service that makes a change, in the same
transaction, so an audit row exists exactly when the change does. Rows are append-only
(database triggers refuse UPDATE and DELETE) and hash-chained per tenant: each row's hash
covers its content, its sequence number and the previous row's hash, and the chain head
holds the last sequence and hash. `service.verify` recomputes the chain and names the first
row that was edited, deleted or moved.
"""
