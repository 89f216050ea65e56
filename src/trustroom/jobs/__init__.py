"""Background jobs: rows written in the caller's transaction, run by workers under leases.

`service.enqueue(session, task, ...)` adds a job row in the same transaction as the change
that needs it, so a rolled-back change leaves no job and a committed one never loses it.
Workers (`runner.Runner`) claim due jobs with a lease: one UPDATE … RETURNING that moves
`visible_at` to the end of the lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite
the writer's BEGIN IMMEDIATE makes the claim atomic). A job's own transaction ends with
a completion fenced on (worker, attempt): if the lease expired and another worker took
the job, the late result is dropped. Failures retry with exponential backoff and jitter
until `max_attempts`, then the job is `dead` with its last error kept. Periodic schedules
insert one job per tick under a unique dedupe key, so they fire once per tick however
many workers run.

Leases are renewed while a job runs (`TRUSTROOM_WORKER_LEASE_SECONDS`); jobs sharing a
`concurrency_key` run at most `concurrency_limit` at once. Events (`service.emit`) are
handed to subscribers in batches by each worker's `dispatcher.Dispatcher`. A task may
read for all jobs of a claim at once (`prepare`) and have its finished jobs committed in
groups (`record`; the webhook delivery does both), each still fenced (`completion.Completer`).

Life cycle: pending → leased → succeeded | pending (retry) | dead.
"""
