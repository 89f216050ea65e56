"""An external RFC 3161 TSA for the tests: Certomancer's Animator (research note esign-lab.md)
as a process of its own on 127.0.0.1, with a small generated PKI: a root of its own, whose
CRL it serves, and a TSA certificate under it.

RSA keys: PKCS#1 v1.5 signatures are deterministic, so a restarted animator issues the same
certificate bytes again (with ECDSA keys every start re-signs different bytes under the
same serial; lab pitfall 1)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from asn1crypto import pem
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..outbound import free_port

ARCH = "trustroomtest"
CONFIG = """\
external-url-prefix: "{base}"
keysets:
  {arch}:
    path-prefix: keys
    keys:
      root: {{path: root.key.pem}}
      tsa: {{path: tsa.key.pem}}
pki-architectures:
  {arch}:
    keyset: {arch}
    entity-defaults: {{country-name: CH, organization-name: Certomancer Test TSA}}
    entities:
      root: {{common-name: Certomancer Test Root}}
      tsa: {{common-name: Certomancer Test Time-Stamping Authority}}
    certs:
      root:
        subject-key: root
        issuer: root
        validity: {{valid-from: "2020-01-01T00:00:00+0000", valid-to: "2100-01-01T00:00:00+0000"}}
        profiles:
          - id: simple-ca
            params: {{crl-repo: root}}
      tsa:
        issuer: root
        validity: {{valid-from: "2020-01-01T00:00:00+0000", valid-to: "2060-01-01T00:00:00+0000"}}
        extensions:
          - id: key_usage
            critical: true
            smart-value: {{schema: key-usage, params: [digital_signature]}}
          - id: extended_key_usage
            critical: true
            value: [time_stamping]
    services:
      crl-repo:
        root: {{for-issuer: root, signing-key: root, simulated-update-schedule: "P1D"}}
      time-stamping:
        tsa: {{signing-key: tsa, signing-cert: tsa}}
"""


class AnimatedTsa:
    """`start()`, `stop()` and `start()` again on the same port; `url` is the TSA's."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base_url}/{ARCH}/tsa/tsa"
        self.root_pem = directory / "root.cert.pem"
        self._process: subprocess.Popen[bytes] | None = None
        keys = directory / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        for name in ("root", "tsa"):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            private = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            (keys / f"{name}.key.pem").write_bytes(private)
        config = directory / "certomancer.yml"
        config.write_text(CONFIG.format(base=self.base_url, arch=ARCH))
        # The same certificate the animator serves (deterministic signatures, see above).
        root = CertomancerConfig.from_file(str(config), key_search_dir=str(directory))
        certificate = root.get_pki_arch(ArchLabel(ARCH)).get_cert(CertLabel("root"))
        self.root_pem.write_bytes(pem.armor("CERTIFICATE", certificate.dump()))

    def start(self, timeout: float = 30) -> None:
        assert self._process is None, "already running"
        log = (self.directory / "animator.log").open("ab")
        command = [sys.executable, "-m", "certomancer", "--config", "certomancer.yml", "animate"]
        self._process = subprocess.Popen(
            [*command, "--port", str(self.port), "--no-web-ui", "--no-time-override"],
            cwd=self.directory,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                answer = httpx.get(f"{self.base_url}/{ARCH}/crls/root/latest.crl", timeout=1)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self._process.poll() is None, (self.directory / "animator.log").read_text()
            assert time.monotonic() < deadline, "the animator did not come up"
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
