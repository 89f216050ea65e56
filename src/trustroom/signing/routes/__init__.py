"""JSON API of e-signatures: /api/v1/dossiers and what lives inside one, /api/v1/signing/validate;
and the public PKI under /pki (CA certificates, CRLs, OCSP, the TSA)."""

from __future__ import annotations

from fastapi import APIRouter

from . import documents, dossiers, invites, pki, signer, validation

ROUTERS: tuple[APIRouter, ...] = (
    dossiers.router,
    documents.router,
    invites.router,
    validation.router,
    pki.router,
    signer.router,
)
