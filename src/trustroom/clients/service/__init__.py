"""Use cases of client records, one module each (DESIGN.md: a service past ~500 lines becomes a package)."""
