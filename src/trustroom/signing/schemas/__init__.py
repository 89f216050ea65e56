"""API shapes of e-signature: one module per resource (dossiers, documents and fields,
invites, the signer's side, validation), and what they share (`common`)."""
