"""E-signatures (references 002 flexperto contract sessions and 003 CM.com Sign dossiers).

A dossier is what one person asks others to sign: a name, a signing method (`ses`, the
platform's seal for each signer's step, or `aes`, a certificate of the signer's own), a
locale for the signers' texts, reminders and an expiry, and its invitees, each a signer,
an approver or a viewer at a position (the same position is one parallel group; the groups
go in ascending order). Documents with their fields, invites with their channels, the
signer's authentication and the PAdES signatures attach to the dossier and its invitees
in tables of their own.

Life cycle: a dossier is a `draft` (changed and deleted freely by those who see it) until
its first invite makes it `pending`; it ends `completed`, `declined`, `cancelled` (with a
reason) or `expired`, and nothing leaves an end state. An invitee goes `waiting → invited
→ viewed → signed | approved | declined`. Every change of state is timestamped.

Who sees a dossier: its owner (a member) and everyone their work reports to, members who
see its contact (`clients.service.access.follows_contact`, ADR 0013), admins and apps.

The cryptographic core the dossier workflow is built on:

- `pki`: the platform root CA, a signing CA per tenant, one-hour certificates for each
  signer, the tenant's platform seal, the TSA's and OCSP responders' certificates; CRLs
  and OCSP responses for what Trustroom serves under `/pki/…`.
- `tsa`: an in-process RFC 3161 time-stamping authority, and external ones by URL, tried
  in order; no timestamp means no signature (fail closed).
- `pdf`: input checks (not a PDF, encrypted, broken) and the form fields placed before
  certification and filled while signing.
- `pades`: certify, approve (per signer), seal a step (`ses`), add revocation info,
  finalize to B-LTA, renew archive timestamps.
- `validation`: judge every signature and document timestamp offline, from the DSS.
- `revocation`: OCSP/CRL/certificate fetching for pyHanko, answered in-process for
  Trustroom's own URLs and over HTTP (when allowed) for others.
- `evidence`: the audit report of a dossier (sealed by the provider) and the download and
  evidence ZIPs, built from plain facts without touching a table.

Invariants: every step is an incremental update, so every earlier signature stays valid;
every signature carries an RFC 3161 timestamp; per-signer keys are used once and dropped;
CA and seal keys leave `pki` only sealed with the server keys. Decisions: ADR 0016.
"""
