"""Test PKI, HTTP endpoints and PDFs for the signing core.

One PKI per session (pitfall 1: ECDSA keys and certificates are made once and reused, never
re-signed), backdated a day so tests can sign "in the past". Its CRLs, OCSP responders and
CA certificates are served on 127.0.0.1 (GET and POST, as NSS asks) by a stdlib HTTP server
in a thread, and answered in-process for the core's own fetching; both read one registry
of issued and revoked serials.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from trustroom.signing import certificate_status, pades, pdf, pki, revocation, tsa

START = datetime.now(UTC) - timedelta(days=1)


def make_pdf(pages: int = 10, *, title: str = "Mandate agreement") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.setTitle(title)
    for number in range(1, pages + 1):
        page.setFont("Helvetica-Bold", 16)
        page.drawString(72, 780, f"{title}, page {number} of {pages}")
        page.setFont("Helvetica", 11)
        for line in range(30):
            page.drawString(
                72, 740 - 18 * line, f"Clause {number}.{line + 1}: the parties agree to what is written here."
            )
        page.showPage()
    page.save()
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    """A PDF encrypted with a user password (reportlab's standard security handler)."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, encrypt="secret")
    page.drawString(72, 720, "Confidential")
    page.showPage()
    page.save()
    return buffer.getvalue()


@dataclass
class Registry:
    """What a CA issued (serial → expiry) and revoked: the database rows of the real service."""

    issued: dict[int, datetime] = field(default_factory=dict)
    revoked: dict[int, certificate_status.Revoked] = field(default_factory=dict)

    def add(self, certificate: x509.Certificate) -> x509.Certificate:
        self.issued[certificate.serial_number] = certificate.not_valid_after_utc
        return certificate

    def lookup(self, serial: int) -> certificate_status.SerialStatus:
        if serial in self.revoked:
            return self.revoked[serial]
        if serial in self.issued:
            return certificate_status.Good(self.issued[serial])
        return None


@dataclass
class Pki:
    root: pki.Authority
    ca: pki.Authority
    seal: pki.Credential
    tsa: pki.Credential
    root_responder: pki.Credential
    ca_responder: pki.Credential
    root_registry: Registry
    ca_registry: Registry
    base_url: str

    @property
    def trust(self) -> pades.Trust:
        return pades.Trust([self.root.certificate], [self.ca.certificate])

    def endpoints(self, clock: Callable[[], datetime] | None = None) -> dict[str, revocation.Endpoint]:
        return {
            **revocation.endpoints_for(
                self.root,
                self.root_registry.lookup,
                revoked=lambda: self.root_registry.revoked.items(),
                responder=self.root_responder,
                clock=clock,
            ),
            **revocation.endpoints_for(
                self.ca,
                self.ca_registry.lookup,
                revoked=lambda: self.ca_registry.revoked.items(),
                responder=self.ca_responder,
                clock=clock,
            ),
        }

    def source(self, clock: Callable[[], datetime] | None = None) -> revocation.RevocationSource:
        return revocation.RevocationSource(self.endpoints(clock))

    def long_term(self, now: datetime | None = None) -> pades.LongTerm:
        return pades.LongTerm(self.trust, self.source(lambda: now) if now else self.source(), now=now)

    def authority(self, clock: Callable[[], datetime] | None = None) -> tsa.TimeStampAuthority:
        return tsa.TimeStampAuthority(self.tsa, clock=clock)

    def stamper(self, clock: Callable[[], datetime] | None = None) -> tsa.FailoverTimeStamper:
        return tsa.in_process(self.authority(clock))

    def signer(self, name: str, email: str, *, now: datetime | None = None) -> pki.SignerCredential:
        credential = pki.issue_signer(self.ca, name=name, email=email, now=now)
        self.ca_registry.add(credential.certificate)
        return credential


def build_pki(base_url: str) -> Pki:
    root_registry, ca_registry = Registry(), Registry()
    root = pki.create_root(
        "Trustroom Test Root CA",
        organization="Trustroom tests",
        urls=pki.IssuerUrls.under(f"{base_url}/pki/root"),
        now=START,
    )
    ca = pki.create_tenant_ca(
        root,
        "Alpine Private Bank Signing CA",
        organization="Alpine Private Bank",
        urls=pki.IssuerUrls.under(f"{base_url}/pki/tenant"),
        now=START,
    )
    root_registry.add(ca.certificate)
    seal = pki.issue_seal(ca, "Alpine Private Bank seal", organization="Alpine Private Bank", now=START)
    ca_registry.add(seal.certificate)
    time_stamping = pki.issue_tsa(root, "Trustroom Test TSA", organization="Trustroom tests", now=START)
    root_registry.add(time_stamping.certificate)
    root_responder = pki.issue_ocsp_responder(root, "Trustroom Test Root OCSP", now=START)
    root_registry.add(root_responder.certificate)
    ca_responder = pki.issue_ocsp_responder(ca, "Alpine Private Bank OCSP", now=START)
    ca_registry.add(ca_responder.certificate)
    return Pki(root, ca, seal, time_stamping, root_responder, ca_responder, root_registry, ca_registry, base_url)


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Callable[[bytes | None], bytes]]
    types: dict[str, str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the stdlib's name)
        pass

    def _answer(self, body: bytes | None) -> None:
        path = self.path
        route = self.routes.get(path)
        tail = None
        if route is None and "/ocsp/" in path:  # RFC 6960 appendix A: GET {url}/{base64 request}
            base, _, tail = path.partition("/ocsp/")
            route = self.routes.get(base + "/ocsp")
        if route is None:
            self.send_error(404)
            return
        try:
            if tail is not None:
                body = certificate_status.ocsp_request_from_url(tail)
            data = route(body)
        except ValueError:
            self.send_error(400)
            return
        self.send_response(200)
        kind = next((kind for suffix, kind in self.types.items() if path.split("/ocsp/")[0].endswith(suffix)), "")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._answer(self.rfile.read(length))


@dataclass
class Server:
    server: ThreadingHTTPServer
    thread: threading.Thread
    routes: dict[str, Callable[[bytes | None], bytes]]

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@contextmanager
def serve(routes: dict[str, Callable[[bytes | None], bytes]], *, port: int = 0) -> Iterator[Server]:
    """An HTTP server on 127.0.0.1 answering `routes` (path → handler of the GET/POST body)."""
    handler = type(
        "Handler",
        (_Handler,),
        {
            "routes": routes,
            "types": {
                "/ocsp": certificate_status.OCSP_RESPONSE_TYPE,
                "/crl": certificate_status.CRL_TYPE,
                "/ca.crt": certificate_status.CERT_TYPE,
                "/tsa": tsa.REPLY_TYPE,
            },
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    running = Server(server, thread, routes)
    try:
        yield running
    finally:
        running.stop()


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: `make browser-tools` installs poppler-utils, qpdf and libnss3-tools"
    return path


def nss_database(directory: Path, root: x509.Certificate) -> Path:
    """A throwaway NSS database trusting `root` for pdfsig."""
    directory.mkdir(parents=True, exist_ok=True)
    root_file = directory / "root.pem"
    root_file.write_bytes(pki.pem(root))
    subprocess.run([tool("certutil"), "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    subprocess.run(
        [
            tool("certutil"),
            "-A",
            "-d",
            f"sql:{directory}",
            "-n",
            "trustroom-test-root",
            "-t",
            "CT,C,C",
            "-i",
            str(root_file),
        ],
        check=True,
    )
    return directory


@dataclass
class PdfsigSignature:
    field: str
    lines: dict[str, str]

    @property
    def validation(self) -> str:
        return self.lines.get("Signature Validation", "")

    @property
    def certificate(self) -> str:
        return self.lines.get("Certificate Validation", "")


def pdfsig(path: Path, nss: Path, *extra: str) -> tuple[list[PdfsigSignature], str]:
    """pdfsig's report, parsed: its exit code is 0 whatever it finds (pitfall 6)."""
    run = subprocess.run(
        [tool("pdfsig"), "-nssdir", f"sql:{nss}", *extra, str(path)], capture_output=True, text=True, timeout=60
    )
    signatures: list[PdfsigSignature] = []
    for line in run.stdout.splitlines():
        if line.startswith("Signature #"):
            signatures.append(PdfsigSignature("", {}))
        elif line.strip().startswith("- ") and signatures:
            key, _, value = line.strip()[2:].partition(": ")
            signatures[-1].lines[key] = value
            if key == "Signature Field Name":
                signatures[-1].field = value
    return signatures, run.stdout


def append_page_content(data: bytes) -> bytes:
    """A later incremental update that draws on page 1: not form filling, not allowed."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    page_ref = writer.find_page_for_modification(0)[0]
    page = page_ref.get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 400 Td (PAID IN FULL) Tj ET")
    page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), writer.add_object(stream)])
    writer.update_container(page)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def offline_lta_spec(root: x509.Certificate) -> PdfSignatureValidationSpec:
    """pyHanko's own AdES-LTA validation, offline (DSS only), `root` the only trust anchor."""
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build([revocation.to_asn1(root)]),
                revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
            ),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )


def drawn_signature(size: tuple[int, int] = (300, 100)) -> bytes:
    """A signature as the signer's canvas exports it: strokes on a transparent PNG."""
    image = Image.new("RGBA", size, (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.line([(20, 70), (80, 20), (140, 80), (200, 30), (280, 60)], fill=(0, 0, 80, 255), width=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _images_in(xobject: generic.PdfObject, seen: int = 0) -> int:
    """Image XObjects an appearance stream draws, through nested form XObjects."""
    resources = xobject.get_object().get("/Resources")
    if resources is None or "/XObject" not in resources.get_object():
        return 0
    found = 0
    for child in resources.get_object()["/XObject"].values():
        child = child.get_object()
        if child.get("/Subtype") == "/Image":
            found += 1
        elif seen < 8:
            found += _images_in(child, seen + 1)
    return found


def appearance_images(data: bytes, field_name: str) -> int:
    """How many images the normal appearance of the signature field `field_name` shows."""
    reader = pdf.open_reader(data)
    for ref in reader.root["/AcroForm"]["/Fields"]:
        field_object = ref.get_object()
        if field_object.get("/T") != field_name:
            continue
        widgets = [kid.get_object() for kid in field_object.get("/Kids", [])] or [field_object]
        return sum(_images_in(widget["/AP"]["/N"]) for widget in widgets if "/AP" in widget)
    raise AssertionError(f"no field {field_name}")
