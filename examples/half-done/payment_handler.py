"""Exercise 3: an idempotent payment handler (the course's discussion question 2).

Replace the ``raise NotImplementedError`` with your code. Keep the name and arguments exactly as
they are: the grader calls ``process_payment``. Importing this file must do nothing but define
things. To try it by hand, use the fakes in ``fakes.py`` (see the README).
"""
from __future__ import annotations

# What you will need is imported already.
import json
import sqlite3


def process_payment(message_body: str, gateway, db: sqlite3.Connection, mailer) -> bool:
    """Charge the card, mark the order paid and send a receipt: exactly once, however often the
    same message is delivered.

    The message is a JSON object ``{"transaction_id": str, "order_id": str, "card_token": str,
    "amount_cents": int, "email": str}``.

    What you are given:

    - ``gateway.charge(card_token, amount_cents, idempotency_key=None)`` takes the money and returns
      a charge id. Like real payment APIs, a repeated call with the same ``idempotency_key``
      returns the first call's charge id and charges nothing more; a call without a key always
      charges. It may raise *after* the money was taken (the reply was lost).
    - ``db``, a ``sqlite3.Connection`` holding ``orders(order_id TEXT PRIMARY KEY, amount_cents
      INTEGER NOT NULL, status TEXT NOT NULL, charge_id TEXT)`` with this order in status
      ``'pending'``. Set it to ``'paid'`` with the charge id, and commit. You may create tables of
      your own in the same database. After a crash the next delivery gets a new connection: what
      was not committed is gone.
    - ``mailer.send(to, subject, body)`` sends the receipt. It may raise (mail server down): then
      nothing was sent.

    What to do:

    1. Validate first, before any side effect: raise ``ValueError`` if the body is not JSON, not an
       object, if a field is missing or of the wrong type, or if ``amount_cents`` is not a positive
       int (careful: ``True`` is an ``int`` in Python). A malformed message must charge nobody.
    2. If the payment is already complete (charged, paid, receipt sent), do nothing and return
       ``False``: at-least-once delivery means a finished message can arrive again.
    3. Otherwise do what is left, and return ``True``. When something fails, let the exception
       propagate: the message is then not acknowledged, the broker delivers it again, and the next
       delivery carries on from where this one stopped.

    The trap, from the course: its "Option 1" checks ``already_processed(transaction_id)``, then
    charges, updates the database, sends the email and only at the end calls ``mark_processed``. If
    the gateway takes the money but its reply is lost, or anything after the charge fails, nothing
    was marked and the redelivery charges the customer again. Your own records cannot close that
    gap (the crash can come between the charge and the write); the gateway can: pass the
    transaction id as ``idempotency_key``, so a retried charge returns the first charge's id.

    Then record your progress in steps, each *after* the side effect it records: commit the paid
    order together with the charge id, then send the receipt, then record that it was sent. Do not
    mark anything "done" before it is done (a crash in between would skip the work for ever), and
    never swallow a mail error (the receipt would be lost). Only one duplicate is tolerated: a
    second receipt when the process dies right after ``mailer.send`` returned and before you could
    record it.
    """
    raise NotImplementedError
