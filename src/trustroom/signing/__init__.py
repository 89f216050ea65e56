"""E-signatures (issue #14): dossiers of PDFs signed by each signer with their own PAdES signature.

This package holds, for now, the pure cryptographic core the dossier workflow is built on;
it has no routes and no tables yet:

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

Invariants: every step is an incremental update, so every earlier signature stays valid;
every signature carries an RFC 3161 timestamp; per-signer keys are used once and dropped;
CA and seal keys leave `pki` only sealed with the server keys. Decisions: ADR 0016.
"""
