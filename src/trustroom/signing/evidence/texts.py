"""Every text of the audit report and the bundle's manifest: gettext ids, translated in the
dossier's language when the report is written (`make messages` extracts them)."""

from __future__ import annotations

from ...errors import N_

TITLE = N_("Audit report")
INTRO = N_(
    "This report records how the dossier “%(name)s” was prepared, sent and signed, as %(provider)s's "
    "audit log holds it. %(provider)s sealed the report with an electronic seal and a timestamp: "
    "any change to it breaks the seal."
)

DOSSIER = N_("Dossier")
STATE_CHANGES = N_("State changes")
DOCUMENTS = N_("Documents")
INVITEES = N_("Invitees")
AUDIT_EVENTS = N_("Audit events")
HOW_TO_VERIFY = N_("How to verify this report")

DOSSIER_ID = N_("Dossier ID")
NAME = N_("Name")
PROVIDER = N_("Provider")
SIGNING_METHOD = N_("Signing method")
LOCALE = N_("Locale")
OWNER = N_("Owner")
STATE = N_("State")
CREATED = N_("Created")
SENT = N_("Sent")
COMPLETED = N_("Completed")
GENERATED = N_("Report generated")

METHODS = {
    "aes": N_("Advanced electronic signature (aes): each signer signs with a certificate of their own"),
    "ses": N_("Simple electronic signature (ses): the provider's seal signs for each signer"),
}
STATES = {
    "draft": N_("Draft"),
    "pending": N_("Pending"),
    "completed": N_("Completed"),
    "declined": N_("Declined"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
    "waiting": N_("Waiting"),
    "invited": N_("Invited"),
    "viewed": N_("Viewed"),
    "signed": N_("Signed"),
    "approved": N_("Approved"),
}
ROLES = {"signer": N_("Signer"), "approver": N_("Approver"), "viewer": N_("Viewer")}
AUTHENTICATIONS = {
    "otp_email": N_("Code by email to %(address)s"),
    "otp_sms": N_("Code by SMS to %(address)s"),
}

TIME = N_("Time")
REASON = N_("Reason")
DOCUMENT = N_("Document")
PAGES = N_("Pages")
ORIGINAL = N_("Original")
FINAL = N_("Final")
POSITION = N_("Position")
ROLE = N_("Role")
FINISHED = N_("Signed or approved")
EMAIL = N_("Email")
MOBILE = N_("Mobile number")
AUTHENTICATION = N_("Authentication")
IP_ADDRESS = N_("IP address")
USER_AGENT = N_("User agent")
VIEWED = N_("Viewed")
SIGNED = N_("Signed")
APPROVED = N_("Approved")
DECLINED = N_("Declined")
SIGNATURES = N_("Signatures")
OWN_CERTIFICATE = N_(
    "%(document)s, field %(field)s: the signer's own certificate, serial %(serial)s, "
    "SHA-256 fingerprint %(fingerprint)s"
)
SEAL_CERTIFICATE = N_(
    "%(document)s, field %(field)s: the provider's seal, serial %(serial)s, SHA-256 fingerprint %(fingerprint)s"
)
ACTION = N_("Action")
ACTOR = N_("Actor")
CHAIN = N_("Chain hash (SHA-256)")
NO_EVENTS = N_("No audit events.")

VERIFY_SEAL = N_(
    "The seal: %(provider)s sealed this report with a PAdES signature, a timestamp and the revocation "
    "information of its certificates (B-LTA). Any PDF validator that trusts the provider's root certificate "
    "confirms that the report is unchanged since; a change to a single byte breaks the seal."
)
VERIFY_DOCUMENTS = N_(
    "The documents: the final SHA-256 identifies each signed PDF as delivered. Compare it with the file "
    "you hold (for instance with sha256sum), and validate the file's signatures with a PDF validator."
)
VERIFY_CHAIN = N_(
    "The audit log: each event's hash is the SHA-256 of its content, which includes the hash of the event "
    "before it in %(provider)s's audit log, so no event can be changed, left out or inserted unnoticed. "
    "Positions in between belong to other records of the provider. The evidence bundle holds each event's "
    "content, so the hashes can be recomputed."
)

PAGE_OF = N_("Page %(page)s of %(pages)s")
FOOTER = N_("Dossier %(id)s · generated %(time)s")
SEAL_REASON = N_("Audit report of the dossier %(id)s")

MANIFEST_ABOUT = N_("SHA-256 of every file in the evidence bundle of the dossier “%(name)s” (%(id)s), made %(time)s.")
MANIFEST_HOW = N_("To check them, unpack the bundle and run in its folder: sha256sum -c SHA256SUMS")
REPORT_FILE = N_("Audit report")
