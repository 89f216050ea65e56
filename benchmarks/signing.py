"""E-signatures: one-signer dossiers completed end to end through the API, per second,
against pyHanko doing the same cryptography directly (`signing_baseline.py`).

A `trustroom serve` process (embedded: SQLite, local blobs, its in-process worker and TSA;
or PostgreSQL with `--database-url`) gets, for each dossier, what a provider and a signer
send: create the dossier (one `aes` signer who authenticates by an emailed code), upload
the 10-page PDF, place a signature field, invite by link; then, as the signer with the
link's token: viewed, ask for the code, read it from the outbox, pass it, sign. The
dossier counts once the server says `completed` (the signature applied by the step job,
then B-LTA and the sealed audit report by finalisation). `--concurrency` dossiers run at
once.

The baseline, in this process on the same PDF: certify, one B-T approval with a fresh
key and certificate, DSS and a document timestamp, with the same in-process TSA and OCSP
responders. Ratio = API dossiers per second / baseline dossiers per second; the goal is
0.6. Also printed: p50/p99 of the signer's "sign" request, and of the time from the
signature to `completed` (the server's own timestamps: the invitee's and the dossier's
`stateChanged`). The last line is JSON.

    .venv/bin/python benchmarks/signing.py [--dossiers 20] [--concurrency 2] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
from common import (
    PROJECT_ROOT,
    BenchmarkError,
    ensure_postgres_database,
    free_port,
    seed_demo,
    server_environment,
    stop,
    trustroom_command,
    wait_until_healthy,
)
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from signing_baseline import dossiers_per_second

GOAL = 0.6
API = "/api/v1"
CODE = re.compile(r"\b(\d{6})\b")


def ten_pages() -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    for number in range(1, 11):
        page.setFont("Helvetica-Bold", 16)
        page.drawString(72, 780, f"Mandate agreement, page {number} of 10")
        page.setFont("Helvetica", 11)
        for line in range(30):
            page.drawString(72, 740 - 18 * line, f"Clause {number}.{line + 1}: the parties agree to what is written.")
        page.showPage()
    page.save()
    return buffer.getvalue()


class Outbox:
    """The codes the server wrote to its mail outbox, found by recipient."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / "outbox" / "mail"
        self.seen: set[str] = set()
        self.codes: dict[str, str] = {}

    async def code_for(self, address: str, within: float = 30.0) -> str:
        deadline = time.monotonic() + within
        while address not in self.codes:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"no code reached {address} within {within:.0f} s")
            self._scan()
            if address not in self.codes:
                await asyncio.sleep(0.02)
        return self.codes.pop(address)

    def _scan(self) -> None:
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.name in self.seen or path.suffix != ".eml":
                continue
            self.seen.add(path.name)
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            body = mail.get_body(("plain",))
            found = CODE.search(body.get_content() if body is not None else "")
            if found and "code" in str(mail["Subject"]).lower():
                self.codes[str(mail["To"]).strip()] = found.group(1)


def checked(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise BenchmarkError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:400]}"
        )
    if status == 204:
        return {}
    answer: dict[str, Any] = response.json()
    return answer


async def one_dossier(
    client: httpx.AsyncClient, provider: dict[str, str], outbox: Outbox, pdf: bytes, number: int
) -> tuple[float, float]:
    """One dossier from creation to `completed`: (sign request seconds, signature → completed seconds)."""
    email = f"signer{number}@bench.example"
    body = {
        "name": f"Mandate {number}",
        "method": "aes",
        "locale": "en-GB",
        "invitees": [{"name": "Anna Muster", "email": email, "role": "signer", "authenticationMethods": ["otp_email"]}],
    }
    dossier = checked(await client.post(f"{API}/dossiers", headers=provider, json=body), 201)
    dossier_id, invitee_id = dossier["id"], dossier["invitees"][0]["id"]
    files = {"file": ("mandate.pdf", pdf, "application/pdf")}
    document = checked(await client.post(f"{API}/dossiers/{dossier_id}/documents", headers=provider, files=files), 201)
    field = {"inviteeId": invitee_id, "type": "signature", "page": 10, "x": 72, "y": 120, "width": 220, "height": 70}
    fields_url = f"{API}/dossiers/{dossier_id}/documents/{document['id']}/fields"
    checked(await client.put(fields_url, headers=provider, json={"fields": [field]}), 200)
    invite = [{"inviteeId": invitee_id, "channel": "link"}]
    answer = await client.post(f"{API}/dossiers/{dossier_id}/invites", headers=provider, json=invite)
    if answer.status_code != 201:
        raise BenchmarkError(f"invites: {answer.status_code} {answer.text[:400]}")
    token = answer.json()[0]["inviteUri"].rsplit("/", 1)[1]
    signer = {"Authorization": f"Bearer {token}"}
    checked(await client.post(f"{API}/signer/viewed", headers=signer), 200)
    checked(await client.post(f"{API}/signer/codes", headers=signer, json={"method": "otp_email"}), 200)
    code = await outbox.code_for(email)
    checked(
        await client.post(f"{API}/signer/codes/verify", headers=signer, json={"method": "otp_email", "code": code}), 200
    )
    started = time.perf_counter()
    checked(
        await client.post(f"{API}/signer/sign", headers=signer, json={"typedName": "Anna Muster", "consent": True}), 202
    )
    sign_seconds = time.perf_counter() - started
    while True:
        read = checked(await client.get(f"{API}/dossiers/{dossier_id}", headers=provider), 200)
        if read["state"] == "completed":
            break
        if read["state"] != "pending":
            raise BenchmarkError(f"dossier {dossier_id} ended {read['state']}")
        await asyncio.sleep(0.02)
    signed_at = datetime.fromisoformat(read["invitees"][0]["stateChanged"])
    completed_at = datetime.fromisoformat(read["stateChanged"])
    return sign_seconds, (completed_at - signed_at).total_seconds()


async def api_run(
    base: str, demo: dict[str, Any], data_dir: Path, pdf: bytes, count: int, concurrency: int
) -> dict[str, Any]:
    provider = {"Authorization": f"Bearer {demo['apiKey']}", "X-Acting-Member": demo["member"]["email"]}
    outbox = Outbox(data_dir)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        await one_dossier(client, provider, outbox, pdf, 0)  # warm-up: the tenant's CA, fonts, imports
        numbers = iter(range(1, count + 1))
        results: list[tuple[float, float]] = []

        async def loop() -> None:
            for number in numbers:
                results.append(await one_dossier(client, provider, outbox, pdf, number))

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    signs = sorted(r[0] for r in results)
    finishes = sorted(r[1] for r in results)
    return {
        "dossiersPerSecond": count / elapsed,
        "signP50Ms": statistics.median(signs) * 1000,
        "signP99Ms": quantile(signs, 0.99) * 1000,
        "toCompletedP50Ms": statistics.median(finishes) * 1000,
        "toCompletedP99Ms": quantile(finishes, 0.99) * 1000,
    }


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--database-url", help="PostgreSQL URL (a database of the benchmark's own); default SQLite")
    options = parser.parse_args()
    pdf = ten_pages()
    command = trustroom_command()
    if options.database_url:
        ensure_postgres_database(options.database_url)
    with tempfile.TemporaryDirectory(prefix="trustroom-signing-bench-") as scratch:
        data_dir = Path(scratch)
        env = server_environment(data_dir, options.database_url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env["TRUSTROOM_PUBLIC_URL"] = base
        subprocess.run([command, "migrate"], env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=300)
        demo = seed_demo(command, env)
        log_file = data_dir / "server.log"
        with log_file.open("wb") as log:
            server = subprocess.Popen(
                [command, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_healthy(base, server, log_file)
            api = asyncio.run(api_run(base, demo, data_dir, pdf, options.dossiers, options.concurrency))
            rate, done, _ = asyncio.run(dossiers_per_second(pdf, options.baseline_seconds))
        finally:
            stop(server)
    ratio = api["dossiersPerSecond"] / rate
    print(f"baseline (pyHanko directly): {rate:.2f} dossiers/s ({done} dossiers)")
    shape = f"{options.dossiers} dossiers, {options.concurrency} at once"
    print(f"through the API:             {api['dossiersPerSecond']:.2f} dossiers/s ({shape})")
    print(f"ratio: {ratio:.2f} (goal {GOAL})")
    print(f"sign request: p50 {api['signP50Ms']:.0f} ms, p99 {api['signP99Ms']:.0f} ms")
    print(f"signature to completed: p50 {api['toCompletedP50Ms']:.0f} ms, p99 {api['toCompletedP99Ms']:.0f} ms")
    print(json.dumps({"baselineDossiersPerSecond": rate, **api, "ratio": ratio, "goal": GOAL}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        sys.exit(1)
