"""Tenants, API keys, members and advisor-portal sign-in.

A tenant is one provider; everything else belongs to exactly one tenant. Apps reach the
API with an API key (random, shown once, stored only as a keyed hash) whose scopes name
`resource:action` permissions; they may act for a member (`X-Acting-Member`) when the key
holds `members:act`, and then get only what both the key and the member's role allow.
Members sign in to the advisor portal with an argon2id password and a TOTP code; the
first sign-in enrols the TOTP secret (QR code). Failed attempts count per member (lockout)
and per client address (rate limit), in the database so every process sees them.
"""
