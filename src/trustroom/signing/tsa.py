"""Time stamps: an in-process RFC 3161 authority, and external ones by URL, failing closed.

Why: a PAdES B-T signature needs a trusted time, and a B-LTA document needs one more at the
end. The embedded default (one machine, no services) must work with nothing to configure,
so Trustroom runs its own TSA in-process (a certificate under the platform root, EKU
timeStamping critical); production points at external TSAs by URL, a list tried in order.

Never sign without a timestamp (DocuSeal embeds a bare clock reading when its TSA fails):
`FailoverTimeStamper` raises `TimestampUnavailable` when no TSA answers, and `pades` checks
that every signature it made carries a token. The caller's step fails and is retried.

`TimeStampAuthority.respond` takes and returns DER, so the same function serves
`application/timestamp-query` over HTTP and `InProcessTimeStamper` calls it directly, with
no HTTP in between.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import ClassVar

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError
from pyhanko.sign.timestamps.common_utils import extract_ts_certs

from .errors import TimestampUnavailable
from .pki import Credential, der, whole_seconds

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"

# Trustroom's TSA policy: an OID under 2.25 (ITU-T X.667, a UUID as an OID) needs no
# registration and is unique to this project.
TRUSTROOM_TSA_POLICY = "2.25.337551772644903073524353147395839107880"

_DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}


class _Rejection(core.Sequence):  # type: ignore[misc]
    # asn1crypto declares TimeStampResp's token mandatory; RFC 3161 makes it optional and
    # absent from every refusal.
    _fields: ClassVar[list[tuple[str, type]]] = [("status", tsp.PKIStatusInfo)]


def _failure(info: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo(
        {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({info})}
    )
    response: bytes = _Rejection({"status": status}).dump()
    return response


class TimeStampAuthority:
    """An RFC 3161 TSA signing with `credential` (see `pki.issue_tsa`).

    `clock` is for tests that need a past or future time; whatever it returns is cut to
    whole seconds. Serial numbers are random 63-bit integers, unique enough without state.
    """

    def __init__(
        self,
        credential: Credential,
        *,
        policy: str = TRUSTROOM_TSA_POLICY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.credential = credential
        self.policy = policy
        self.clock = clock
        self._certificate = asn1_x509.Certificate.load(der(credential.certificate))
        self._chain = [self._certificate, *(asn1_x509.Certificate.load(der(c)) for c in credential.chain)]
        # ETSI EN 319 422 wants the signing certificate bound into the token (ESS v2).
        self._signing_certificate = tsp.SigningCertificateV2(
            {
                "certs": [
                    {
                        "cert_hash": hashlib.sha256(self._certificate.dump()).digest(),
                        "issuer_serial": {
                            "issuer": [asn1_x509.GeneralName({"directory_name": self._certificate.issuer})],
                            "serial_number": self._certificate.serial_number,
                        },
                    }
                ]
            }
        )

    def respond(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq: a token, or a rejection saying why."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = request["nonce"].native
            policy = request["req_policy"].native
            wants_certs = bool(request["cert_req"].native)
            has_extensions = bool(request["extensions"].native)
        except (ValueError, TypeError, KeyError):
            return _failure("bad_data_format", "the request is not a DER TimeStampReq")
        if algorithm not in _DIGESTS:
            return _failure("bad_alg", f"hash algorithm {algorithm} is not accepted (SHA-2 only)")
        if len(digest) != _DIGESTS[algorithm]:
            return _failure("bad_data_format", "the message imprint has the wrong length")
        if policy is not None and policy != self.policy:
            return _failure("unaccepted_policy", f"this TSA only issues under policy {self.policy}")
        if has_extensions:
            return _failure("unaccepted_extensions", "no request extensions are supported")
        token = self._token(imprint, nonce, wants_certs)
        response: bytes = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()
        return response

    def _token(self, imprint: tsp.MessageImprint, nonce: int | None, wants_certs: bool) -> cms.ContentInfo:
        now = whole_seconds(self.clock() if self.clock else None)
        info = {
            "version": "v1",
            "policy": self.policy,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(63),
            "gen_time": now,
            "accuracy": {"seconds": 1},
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = tsp.TSTInfo(info)
        content = tst_info.dump()
        signed_attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": now})]}),
                cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
                cms.CMSAttribute({"type": "signing_certificate_v2", "values": [self._signing_certificate]}),
            ]
        )
        signature = self.credential.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": self._certificate.issuer,
                            "serial_number": self._certificate.serial_number,
                        }
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed_data = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(content)},
            "signer_infos": [signer_info],
        }
        if wants_certs:
            signed_data["certificates"] = [cms.CertificateChoices({"certificate": c}) for c in self._chain]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


class InProcessTimeStamper(TimeStamper):
    """pyHanko's TimeStamper over a `TimeStampAuthority` in this process: no HTTP, no socket."""

    def __init__(self, authority: TimeStampAuthority) -> None:
        super().__init__()
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(self.authority.respond(req.dump()))


class FailoverTimeStamper(TimeStamper):
    """TSAs tried in order; the first token wins, and none at all raises `TimestampUnavailable`.

    pyHanko sizes a signature from one dummy token, fetched once and kept (from the first
    TSA that answers then); a later token from another TSA must fit in pyHanko's 50% margin,
    or signing fails (closed). The certificates of every token obtained are registered, so
    revocation info can be collected for whichever TSA actually answered.
    """

    def __init__(self, timestampers: Sequence[TimeStamper]) -> None:
        if not timestampers:
            raise ValueError("at least one time-stamping authority is needed")
        super().__init__()
        self.timestampers = list(timestampers)

    async def _first(self, attempt: Callable[[TimeStamper], Awaitable[cms.ContentInfo]]) -> cms.ContentInfo:
        reasons = []
        for timestamper in self.timestampers:
            try:
                # ValueError: asn1crypto cannot parse a refusal (no token), a garbled reply either.
                return await attempt(timestamper)
            except (TimeoutError, TimestampRequestError, OSError, ValueError) as error:
                reasons.append(f"{_describe(timestamper)}: {error}")
        raise TimestampUnavailable(reason="; ".join(reasons))

    async def async_dummy_response(self, md_algorithm: str) -> cms.ContentInfo:
        cached: cms.ContentInfo | None = self._dummy_response_cache.get(md_algorithm)
        if cached is not None:
            return cached
        token = await self._first(lambda timestamper: timestamper.async_dummy_response(md_algorithm))
        self._register_dummy(md_algorithm, token)
        return token

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        token = await self._first(lambda timestamper: timestamper.async_timestamp(message_digest, md_algorithm))
        for certificate in extract_ts_certs(token, self.cert_registry):
            self._certs[certificate.issuer_serial] = certificate
        return token


def _describe(timestamper: TimeStamper) -> str:
    if isinstance(timestamper, HTTPTimeStamper):
        return str(timestamper.url)
    if isinstance(timestamper, InProcessTimeStamper):
        return "in-process TSA"
    return type(timestamper).__name__


def in_process(authority: TimeStampAuthority) -> FailoverTimeStamper:
    """The embedded default: Trustroom's own TSA, through the same fail-closed wrapper."""
    return FailoverTimeStamper([InProcessTimeStamper(authority)])


def over_http(urls: Sequence[str], *, timeout: float = 10) -> FailoverTimeStamper:
    """External RFC 3161 TSAs by URL, tried in order (pyHanko's `HTTPTimeStamper`, aiohttp)."""
    return FailoverTimeStamper([HTTPTimeStamper(url, timeout=timeout) for url in urls])
