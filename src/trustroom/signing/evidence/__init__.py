"""The evidence of a finished dossier: its audit report and the archives handed out.

- `facts`: plain, frozen facts about a dossier, its documents, invitees and audit events,
  read from the tables by the completion step; addresses are masked when shown.
- `report`: the audit report PDF in the dossier's language, and `seal_report`, the
  provider's seal on it (a B-LTA certification allowing no changes).
- `archive`: the download ZIP (signed PDFs and the report) and the evidence bundle (those,
  the audit events with their chain hashes, a validation report per document and a
  `SHA256SUMS` manifest), streamed, in a fixed order, with safe member names.

Nothing here reads or writes a table: the same facts give the same report and archives.
"""
