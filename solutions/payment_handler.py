"""Exercise 3, reference solution: an idempotent payment handler (the course's discussion question 2).

The broker delivers at least once, so this handler must be safe to run again on the same message
after a failure at any point. The course's "Option 1" (check a processed flag, charge, update,
email, then set the flag) still charges twice when the gateway takes the money but its reply is
lost, or when anything after the charge fails: the flag was never set, so the retry charges again.

The fix has two parts:

1. The charge itself is made idempotent by the gateway: we pass ``idempotency_key=transaction_id``,
   so a retried charge returns the first charge's id and takes no more money. No local bookkeeping
   can do this, because a crash between "charged" and "recorded" loses the local record.
2. Our own progress is committed in steps, each after the side effect it records: the paid order
   and the charge id together in one transaction, then the receipt. No transaction is left open
   while we call the gateway or the mailer, so a crash never leaves the database locked or
   half-written.

Progress lives in a table of our own::

    payments(transaction_id PRIMARY KEY, order_id, charge_id, receipt_sent)

no row            -> not charged yet (or charged but not recorded: the key makes the retry safe)
receipt_sent = 0  -> charged and the order paid; the receipt is still owed
receipt_sent = 1  -> complete: a redelivery does nothing and returns False
"""
from __future__ import annotations

import json
import sqlite3

_STR_FIELDS = ("transaction_id", "order_id", "card_token", "email")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    transaction_id TEXT PRIMARY KEY,
    order_id       TEXT NOT NULL,
    charge_id      TEXT NOT NULL,
    receipt_sent   INTEGER NOT NULL DEFAULT 0
)
"""


def parse_payment(message_body: str) -> dict:
    """Decode and validate a payment message; raise ValueError if it is not one.

    Validation comes before any side effect: a malformed message must not charge anybody.
    ``bool`` is a subclass of ``int`` in Python, so ``true`` is rejected explicitly.
    """
    try:
        payment = json.loads(message_body)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"payment message is not JSON: {exc}") from exc
    if not isinstance(payment, dict):
        raise ValueError(f"a payment must be a JSON object, not {type(payment).__name__}")
    for field in _STR_FIELDS:
        if not isinstance(payment.get(field), str):
            raise ValueError(f"{field} must be a string")
    amount = payment.get("amount_cents")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"amount_cents must be a positive integer, not {amount!r}")
    return payment


def _receipt(payment: dict, charge_id: str) -> tuple[str, str]:
    """The receipt's subject and body."""
    amount = payment["amount_cents"]
    subject = f"Receipt for order {payment['order_id']}"
    body = (f"Thank you for your payment of {amount // 100}.{amount % 100:02d}.\n"
            f"Order: {payment['order_id']}\n"
            f"Transaction: {payment['transaction_id']}\n"
            f"Charge: {charge_id}\n")
    return subject, body


def process_payment(message_body: str, gateway, db: sqlite3.Connection, mailer) -> bool:
    """Charge the card, mark the order paid and send a receipt, exactly once per transaction.

    Returns True when this delivery did some of that work, False when the payment was already
    complete (nothing charged, nothing sent). Every failure propagates, so the message is not
    acknowledged and comes back; the next delivery picks up where this one stopped.
    """
    payment = parse_payment(message_body)
    transaction_id = payment["transaction_id"]
    order_id = payment["order_id"]

    db.execute(_SCHEMA)
    row = db.execute(
        "SELECT charge_id, receipt_sent FROM payments WHERE transaction_id = ?", (transaction_id,)
    ).fetchone()

    if row is None:
        # Not recorded as charged. Maybe it was (lost reply, crash before commit): the same
        # idempotency key makes the gateway return that charge instead of taking money again.
        if db.execute("SELECT 1 FROM orders WHERE order_id = ?", (order_id,)).fetchone() is None:
            raise LookupError(f"no order {order_id!r}")
        charge_id = gateway.charge(payment["card_token"], payment["amount_cents"],
                                   idempotency_key=transaction_id)
        with db:  # one transaction: the order is paid if and only if we recorded the charge
            db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
                       (charge_id, order_id))
            db.execute("INSERT INTO payments (transaction_id, order_id, charge_id, receipt_sent) "
                       "VALUES (?, ?, ?, 0)", (transaction_id, order_id, charge_id))
    else:
        charge_id, receipt_sent = row
        if receipt_sent:
            return False  # complete: charge nothing, send nothing

    # Send first, record after: a mail failure leaves the receipt owed, so the retry sends it.
    # (A crash between the two may send a second receipt, the one duplicate the contract allows.)
    subject, body = _receipt(payment, charge_id)
    mailer.send(payment["email"], subject, body)
    with db:
        db.execute("UPDATE payments SET receipt_sent = 1 WHERE transaction_id = ?", (transaction_id,))
    return True
