"""Use cases of e-signature dossiers, a module each."""
