"""Secure exchange: an encrypted document room per client (reference 000, DSwiss SecureExchange).

An exchange joins three things made together: the client's portal account (username,
password, the mobile number or email that receives one-time codes), the room (name,
description, the advisor's contact card, optionally the contact it serves) and the room's
key-encryption key. Folders nest inside the room; documents live in folders, each upload
under an existing name becomes the document's next version, and every version is a sealed
blob whose data key the room's KEK wraps.

Invariants:
- A document belongs to the side that uploaded it (advisor or client) and is visible to
  the other side only once shared (ADR 0011); sharing cannot be undone.
- Sibling folders have distinct names, and so have one side's documents in a folder
  (compared case-insensitively); writes that check names lock the exchange row first.
- Deleting an exchange destroys its KEK first (crypto-shredding): its content is
  unreadable from that commit on, the sweep removes the files.
"""
