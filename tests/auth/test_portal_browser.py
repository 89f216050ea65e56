"""End-to-end: the advisor-portal sign-in with password and TOTP, in a real Chromium.

A real `trustroom serve` process on 127.0.0.1 serves the test database; tenants and
members are made with the real CLI; Debian's Chromium (never a downloaded browser) is
driven by Playwright's sync API.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from ..conftest import TEST_SECRET

CHROMIUM = Path("/usr/bin/chromium")
ZBARIMG = Path("/usr/bin/zbarimg")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]
TRUSTROOM = Path(sys.executable).with_name("trustroom")
GERMAN_CATALOG = Path(__file__).parents[2] / "src/trustroom/locale/de/LC_MESSAGES/messages.po"
SESSION_COOKIE = "trustroom_session"  # no __Host- prefix: cookies are not Secure on plain http
STARTUP_TIMEOUT = 20.0

# `make test` installs both (target `browser-tools`); missing, the tests fail rather than skip.
assert CHROMIUM.exists() and ZBARIMG.exists(), "needs Debian's chromium and zbar-tools: run `make browser-tools`"


@dataclass(frozen=True)
class NewMember:
    email: str
    password: str
    totp: pyotp.TOTP
    tenant_id: str

    @property
    def display_name(self) -> str:
        return self.email.split("@")[0]

    @property
    def login_path(self) -> str:
        """Their tenant's sign-in page (member sign-ins are bound to one tenant)."""
        return f"/portal/t/{self.tenant_id}/login"


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    tenant_id: str
    unused_members: list[NewMember]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - a fixed http://127.0.0.1 URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _start_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    command = [str(TRUSTROOM), *args, "--json"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cli_result(process: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, f"{' '.join(map(str, process.args))} failed:\n{stdout}\n{stderr}"
    result: dict[str, Any] = json.loads(stdout)
    return result


def _create_members(env: dict[str, str], tenant_id: str, count: int) -> list[NewMember]:
    """`count` advisors with unique emails, made by concurrent `trustroom member create` runs."""
    emails = [f"advisor-{uuid.uuid4().hex[:12]}@browser-bank.example" for _ in range(count)]
    runs = [
        _start_cli(env, "member", "create", "--tenant", tenant_id, "--email", e, "--role", "advisor") for e in emails
    ]
    made = []
    for email, run in zip(emails, runs, strict=True):
        created = _cli_result(run)
        assert created["email"] == email
        made.append(NewMember(created["email"], created["password"], pyotp.TOTP(created["totpSecret"]), tenant_id))
    return made


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, database_url: str, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`trustroom serve` on a free port of 127.0.0.1, with a tenant and this module's members.

    The CLI runs while the server starts, since each run costs seconds of imports.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUSTROOM_")}
    env |= {
        "TRUSTROOM_DATABASE_URL": database_url,
        "TRUSTROOM_DATA_DIR": str(data_dir),
        "TRUSTROOM_SECRET_KEY": TEST_SECRET,
        "TRUSTROOM_AUTH__COOKIE_SECURE": "false",
        "TRUSTROOM_LOG_JSON": "true",
    }
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(TRUSTROOM), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        tenant_id: str = _cli_result(_start_cli(env, "tenant", "create", "Browser Bank"))["id"]
        wanted = sum(
            1
            for item in request.session.items
            if isinstance(item, pytest.Function) and item.module is request.module and "member" in item.fixturenames
        )
        members = _create_members(env, tenant_id, wanted)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(f"{base_url}/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not come up (exit code {process.poll()}):\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Server(base_url, env, tenant_id, members)
    finally:
        process.terminate()
        try:
            process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def member(server: Server) -> NewMember:
    """An advisor of its own (unique email) who has never signed in."""
    if server.unused_members:
        return server.unused_members.pop()
    return _create_members(server.env, server.tenant_id, 1)[0]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    """A fresh cookie jar per test; anything but the test server is refused."""
    browser_context = browser.new_context(base_url=server.base_url, locale="en-US")
    browser_context.set_default_timeout(10_000)
    browser_context.route(re.compile(r"^(?!" + re.escape(server.base_url) + r"/|data:)"), lambda route: route.abort())
    yield browser_context
    browser_context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def _sign_in_with_password(page: Page, member: NewMember) -> None:
    page.goto(member.login_path)
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/portal/login/totp(\?|$)"))


def _submit_code(page: Page, code: str) -> None:
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in").click()


def _expect_enrolment(page: Page, member: NewMember) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator app")
    qr = page.locator("img.qr")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    expect(page.locator("code.secret")).to_have_text(member.totp.secret)
    # An independent judge: zbarimg decodes the QR code exactly as the browser drew it.
    decoded = (
        subprocess.run([str(ZBARIMG), "--quiet", "--raw", "-"], input=qr.screenshot(), capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    otpauth = urllib.parse.urlsplit(decoded)
    query = urllib.parse.parse_qs(otpauth.query)
    assert otpauth.scheme == "otpauth" and otpauth.netloc == "totp"
    assert urllib.parse.unquote(otpauth.path) == f"/Trustroom:{member.email}"
    assert query["secret"] == [member.totp.secret] and query["issuer"] == ["Trustroom"]


def _expect_dashboard(page: Page, context: BrowserContext, member: NewMember) -> None:
    expect(page).to_have_url(re.compile(r"/portal/(\?|$)"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {member.display_name}")
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    assert SESSION_COOKIE in cookies
    session_cookie = cookies[SESSION_COOKIE]
    assert session_cookie["value"]
    assert session_cookie["httpOnly"] is True
    assert session_cookie["sameSite"] == "Lax"


def _wrong_code(totp: pyotp.TOTP) -> str:
    """A six-digit code the server cannot accept now (it tries now ± one step)."""
    now = time.time()
    valid = {totp.at(now + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in valid)


def test_first_sign_in_enrols_totp_then_signs_out_and_in_again(
    page: Page, context: BrowserContext, member: NewMember
) -> None:
    _sign_in_with_password(page, member)
    _expect_enrolment(page, member)
    _submit_code(page, member.totp.now())
    _expect_dashboard(page, context, member)
    expect(page.get_by_text(member.email)).to_be_visible()
    expect(page.get_by_text("Advisor", exact=True)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    at_own_login = re.compile(re.escape(member.login_path) + r"(\?|$)")
    expect(page).to_have_url(at_own_login)
    expect(page.get_by_role("heading", level=1)).to_have_text("Advisor portal")
    assert SESSION_COOKIE not in {cookie["name"] for cookie in context.cookies()}
    page.goto("/portal/")
    expect(page).to_have_url(at_own_login)
    page.goto("/portal/login")  # the browser remembers the tenant it signed in with
    expect(page).to_have_url(at_own_login)
    expect(page.get_by_label("Password")).to_be_visible()

    # Enrolled now: the second sign-in asks for a code without showing the secret again.
    # A code counts once per time step, so this one is for the next step (accepted as now + 1).
    _sign_in_with_password(page, member)
    expect(page.get_by_role("heading", level=1)).to_have_text("Verification code")
    expect(page.locator("img.qr")).to_have_count(0)
    expect(page.locator("code.secret")).to_have_count(0)
    _submit_code(page, member.totp.at(time.time() + 30))
    _expect_dashboard(page, context, member)


def test_wrong_code_is_refused_then_right_code_signs_in(page: Page, context: BrowserContext, member: NewMember) -> None:
    _sign_in_with_password(page, member)
    _expect_enrolment(page, member)

    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        _submit_code(page, _wrong_code(member.totp))
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_have_text("The email address, password or code is not right.")
    expect(page).to_have_url(re.compile(r"/portal/login/totp(\?|$)"))
    assert SESSION_COOKIE not in {cookie["name"] for cookie in context.cookies()}
    _expect_enrolment(page, member)  # still not enrolled: the QR code is shown again

    _submit_code(page, member.totp.now())
    _expect_dashboard(page, context, member)
    expect(page.get_by_role("alert")).to_have_count(0)


LOGIN_PAGE_MESSAGES = (
    "Advisor portal",
    "Sign in with your email address and password.",
    "Email",
    "Password",
    "Continue",
)


def _german(message: str) -> str:
    """What the German catalog makes of a message now (the message itself when untranslated)."""
    if not GERMAN_CATALOG.exists():
        return message
    with GERMAN_CATALOG.open("rb") as po_file:
        catalog = read_po(po_file, locale="de")
    entry = catalog.get(message)
    if entry is None or entry.fuzzy or not isinstance(entry.string, str) or not entry.string:
        return message
    return entry.string


def test_login_page_in_german(page: Page, server: Server) -> None:
    login = f"/portal/t/{server.tenant_id}/login"
    page.goto(login)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    english = page.locator("main").inner_text()

    page.goto(f"{login}?language=de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator('nav a[lang="de"]')).to_have_attribute("aria-current", "true")
    expect(page.locator("form")).to_have_attribute("action", f"{login}?language=de")

    expected = {message: _german(message) for message in LOGIN_PAGE_MESSAGES}
    expect(page.get_by_role("heading", level=1)).to_have_text(expected["Advisor portal"])
    expect(page.locator("main p.muted")).to_have_text(expected["Sign in with your email address and password."])
    expect(page.locator('label[for="email"]')).to_have_text(expected["Email"])
    expect(page.locator('label[for="password"]')).to_have_text(expected["Password"])
    expect(page.locator('button[type="submit"]')).to_have_text(expected["Continue"])
    if any(german != message for message, german in expected.items()):
        assert page.locator("main").inner_text() != english


LONG_EMAIL = (
    "anna-maria.von-der-muehlen-zur-hohen-eiche.private-banking"
    f"-{uuid.uuid4().hex[:4]}@wealth-management.subsidiary-of-an-international-banking-group.example"
)
OVERFLOWING = """elements => elements
    .filter(element => element.scrollWidth > element.clientWidth)
    .map(element => `${element.className}: ${element.scrollWidth} > ${element.clientWidth}`)"""


@pytest.mark.parametrize("width", [1280, 390])  # a desktop window and a phone
def test_a_long_email_stays_inside_its_card(page: Page, context: BrowserContext, server: Server, width: int) -> None:
    email = LONG_EMAIL.replace("@", f"-{width}@")
    created = _cli_result(
        _start_cli(server.env, "member", "create", "--tenant", server.tenant_id, "--email", email, "--role", "advisor")
    )
    member = NewMember(created["email"], created["password"], pyotp.TOTP(created["totpSecret"]), server.tenant_id)
    page.set_viewport_size({"width": width, "height": 900})
    _sign_in_with_password(page, member)
    _submit_code(page, member.totp.now())
    expect(page.get_by_text(member.email)).to_be_visible()

    # Every card, tile and the sidebar holds its text: nothing wider than the box it sits in,
    # and the page itself never scrolls sideways.
    boxes = page.locator(".sidebar, .sidebar .who, .tile, .card")
    assert boxes.count() >= 3
    assert boxes.evaluate_all(OVERFLOWING) == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    # Links look alike: the tiles' and the API link share the brand colour.
    colours = page.locator("main a").evaluate_all("links => [...new Set(links.map(a => getComputedStyle(a).color))]")
    assert len(colours) == 1, colours
