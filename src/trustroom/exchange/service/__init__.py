"""Use cases of secure exchange, a module each."""
