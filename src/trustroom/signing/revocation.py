"""Fetching revocation info (OCSP, CRLs, issuer certificates) for B-LT/B-LTA, in-process or over HTTP.

Why not pyHanko's own aiohttp fetchers: Trustroom is usually the OCSP responder and CRL
issuer for the certificates in its documents, and a request from the server to its own
public URL is a round trip through the load balancer (or, in the embedded default, to a
server that may not be listening yet). `RevocationSource` answers Trustroom's own URLs by
calling `certificate_status.respond_ocsp` / `certificate_status.crl` in-process, and sends
other URLs (an external TSA's CA, say) over HTTP with aiohttp, never blocking the event loop.

HTTP is off unless the caller allows it, URL by URL (`http_allowed`): the URLs come from
the certificates inside the document, and a document may carry a foreign signature whose
certificate points anywhere (an SSRF vector when Trustroom finalizes it).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType

import aiohttp
from asn1crypto import cms, crl, ocsp, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko_certvalidator import errors as cv_errors
from pyhanko_certvalidator.authority import Authority as CvAuthority
from pyhanko_certvalidator.fetchers.api import CertificateFetcher, CRLFetcher, Fetchers, OCSPFetcher
from pyhanko_certvalidator.fetchers.common_utils import (
    enumerate_delivery_point_urls,
    format_ocsp_request,
    gather_aia_issuer_urls,
    process_ocsp_response_data,
    unpack_cert_content,
)
from pyhanko_certvalidator.util import get_ocsp_urls, get_relevant_crl_dps

from . import certificate_status, pki

# An endpoint answers a GET (None) or a POST body with the response's bytes.
Endpoint = Callable[[bytes | None], bytes | Awaitable[bytes]]


def endpoints_for(
    authority: pki.Authority,
    lookup: certificate_status.StatusLookup,
    *,
    revoked: Callable[[], Iterable[tuple[int, certificate_status.Revoked]]] = tuple,
    responder: pki.Credential | None = None,
    crl_number: Callable[[], int] | None = None,
    clock: Callable[[], datetime] | None = None,
    ocsp_validity: timedelta = certificate_status.OCSP_VALIDITY,
) -> dict[str, Endpoint]:
    """A CA's three URLs answered in-process: OCSP (via `lookup`), its CRL (listing `revoked()`), its certificate.

    The CRL is built on each call (with `crl_number()`, by default the current Unix time);
    a server that publishes CRLs keeps and serves one instead. `clock` (tests) moves "now".

    Give a delegated `responder` (`pki.issue_ocsp_responder`): pyHanko's AdES validation
    of a document later fails on OCSP responses that a CA signed itself (ADR 0016).
    """

    def answer_ocsp(body: bytes | None) -> bytes:
        if body is None:
            raise ValueError("OCSP requests are POSTed here")
        return certificate_status.respond_ocsp(
            body, authority, lookup, responder=responder, now=clock() if clock else None, validity=ocsp_validity
        )

    def answer_crl(_body: bytes | None) -> bytes:
        now = pki.whole_seconds(clock() if clock else None)
        return certificate_status.crl(
            authority, revoked(), number=crl_number() if crl_number else int(now.timestamp()), this_update=now
        )

    certificate = pki.der(authority.certificate)
    return {
        authority.urls.ocsp: answer_ocsp,
        authority.urls.crl: answer_crl,
        authority.urls.ca_issuers: lambda _body: certificate,
    }


class RevocationSource:
    """Where OCSP responses, CRLs and issuer certificates come from, for one operation.

    `local` maps exact URLs to in-process endpoints (see `endpoints_for`); any other URL is
    fetched over HTTP only if `http_allowed(url)` says so. Use it as an async context
    manager (it may own an aiohttp session); `fetchers()` gives pyHanko's `Fetchers`.
    """

    def __init__(
        self,
        local: Mapping[str, Endpoint] | None = None,
        *,
        http_allowed: Callable[[str], bool] | None = None,
        timeout: float = 10,
    ) -> None:
        self.local = dict(local or {})
        self.http_allowed = http_allowed
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.requests: list[str] = []  # every URL asked, local or remote: for tests and logs

    async def __aenter__(self) -> RevocationSource:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def transfer(
        self, url: str, body: bytes | None, *, content_type: str, accept: str
    ) -> tuple[bytes, str | None]:
        """The response body and content type for a GET (`body` None) or POST to `url`."""
        self.requests.append(url)
        endpoint = self.local.get(url)
        if endpoint is not None:
            answer = endpoint(body)
            data = await answer if inspect.isawaitable(answer) else answer
            assert isinstance(data, bytes)
            return data, accept
        if self.http_allowed is None or not self.http_allowed(url):
            raise OSError(f"fetching {url} is not allowed")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        headers = {"Accept": accept}
        if body is None:
            request = self._session.get(url, headers=headers, timeout=timeout, raise_for_status=True)
        else:
            headers["Content-Type"] = content_type
            request = self._session.post(url, data=body, headers=headers, timeout=timeout, raise_for_status=True)
        async with request as response:
            return await response.read(), response.headers.get("Content-Type")

    def fetchers(self) -> Fetchers:
        return Fetchers(
            ocsp_fetcher=_OcspFetcher(self), crl_fetcher=_CrlFetcher(self), cert_fetcher=_CertificateFetcher(self)
        )


_TRANSFER_ERRORS = (OSError, aiohttp.ClientError, ValueError, TimeoutError)


class _OcspFetcher(OCSPFetcher):
    def __init__(self, source: RevocationSource) -> None:
        self.source = source
        self._responses: dict[tuple[bytes, object], ocsp.OCSPResponse] = {}

    async def fetch(
        self, cert: asn1_x509.Certificate | cms.AttributeCertificateV2, authority: CvAuthority
    ) -> ocsp.OCSPResponse:
        if not isinstance(cert, asn1_x509.Certificate):
            raise cv_errors.OCSPFetchError("attribute certificates are not supported")
        tag = (cert.issuer_serial, authority.hashable)
        if tag in self._responses:
            return self._responses[tag]
        request = format_ocsp_request(cert, authority, certid_hash_algo="sha1", request_nonces=True)
        failures = []
        for url in get_ocsp_urls(cert):
            try:
                data, _ = await self.source.transfer(
                    url,
                    request.dump(),
                    content_type=certificate_status.OCSP_REQUEST_TYPE,
                    accept=certificate_status.OCSP_RESPONSE_TYPE,
                )
                response = process_ocsp_response_data(data, ocsp_request=request, ocsp_url=url)
            except (*_TRANSFER_ERRORS, cv_errors.OCSPValidationError, cv_errors.OCSPFetchError) as error:
                failures.append(f"{url}: {error}")
                continue
            self._responses[tag] = response
            return response
        raise cv_errors.OCSPFetchError("; ".join(failures) or "the certificate names no OCSP responder")

    def fetched_responses(self) -> Iterable[ocsp.OCSPResponse]:
        return list(self._responses.values())

    def fetched_responses_for_cert(
        self, cert: asn1_x509.Certificate | cms.AttributeCertificateV2
    ) -> Iterable[ocsp.OCSPResponse]:
        if not isinstance(cert, asn1_x509.Certificate):
            return []
        return [response for (serial, _), response in self._responses.items() if serial == cert.issuer_serial]


class _CrlFetcher(CRLFetcher):
    def __init__(self, source: RevocationSource) -> None:
        self.source = source
        self._by_url: dict[str, crl.CertificateList] = {}
        self._by_cert: dict[bytes, list[crl.CertificateList]] = {}

    async def fetch(
        self, cert: asn1_x509.Certificate | cms.AttributeCertificateV2, *, use_deltas: bool | None = None
    ) -> Iterable[crl.CertificateList]:
        if not isinstance(cert, asn1_x509.Certificate):
            raise cv_errors.CRLFetchError("attribute certificates are not supported")
        if cert.issuer_serial in self._by_cert:
            return self._by_cert[cert.issuer_serial]
        found, failures = [], []
        for point in get_relevant_crl_dps(cert, use_deltas=bool(use_deltas)):
            for url in enumerate_delivery_point_urls(point):
                try:
                    found.append(await self._get(url))
                except _TRANSFER_ERRORS as error:
                    failures.append(f"{url}: {error}")
        if not found and failures:
            raise cv_errors.CRLFetchError("; ".join(failures))
        self._by_cert[cert.issuer_serial] = found
        return found

    async def _get(self, url: str) -> crl.CertificateList:
        if url not in self._by_url:
            data, _ = await self.source.transfer(url, None, content_type="", accept=certificate_status.CRL_TYPE)
            if pem.detect(data):
                _, _, data = pem.unarmor(data)
            self._by_url[url] = crl.CertificateList.load(data)
        return self._by_url[url]

    def fetched_crls(self) -> Iterable[crl.CertificateList]:
        return list(self._by_url.values())

    def fetched_crls_for_cert(
        self, cert: asn1_x509.Certificate | cms.AttributeCertificateV2
    ) -> Iterable[crl.CertificateList]:
        if not isinstance(cert, asn1_x509.Certificate):
            return []
        return self._by_cert[cert.issuer_serial]


class _CertificateFetcher(CertificateFetcher):
    def __init__(self, source: RevocationSource) -> None:
        self.source = source
        self._certs: dict[bytes, asn1_x509.Certificate] = {}

    async def _from(self, urls: Iterable[str]) -> AsyncGenerator[asn1_x509.Certificate, None]:
        for url in urls:
            try:
                data, content_type = await self.source.transfer(
                    url, None, content_type="", accept=certificate_status.CERT_TYPE
                )
                certificates = list(unpack_cert_content(data, content_type, url, permit_pem=True))
            except _TRANSFER_ERRORS:
                continue
            for certificate in certificates:
                self._certs[certificate.issuer_serial] = certificate
                yield certificate

    def fetch_cert_issuers(
        self, cert: asn1_x509.Certificate | cms.AttributeCertificateV2
    ) -> AsyncGenerator[asn1_x509.Certificate, None]:
        return self._from(list(gather_aia_issuer_urls(cert)))

    def fetch_crl_issuers(self, certificate_list: crl.CertificateList) -> AsyncGenerator[asn1_x509.Certificate, None]:
        return self._from(list(certificate_list.issuer_cert_urls))

    def fetched_certs(self) -> Iterable[asn1_x509.Certificate]:
        return list(self._certs.values())


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(pki.der(certificate))
