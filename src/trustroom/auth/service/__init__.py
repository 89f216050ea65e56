"""Use cases of the auth domain, one module each: tenants, API keys, members, portal sign-in."""
