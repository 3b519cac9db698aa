"""Payment handler that leans on the gateway's idempotency key for the charge.

Charging again with the same key is free (the gateway returns the first charge id),
so only the receipt needs bookkeeping of our own.
"""
import json
import sqlite3


def _validated(body):
    try:
        msg = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(msg, dict):
        raise ValueError("not an object")
    amount = msg.get("amount_cents")
    if not (isinstance(amount, int) and not isinstance(amount, bool) and amount > 0):
        raise ValueError("amount_cents must be a positive integer")
    return msg


def process_payment(message_body: str, gateway, db: sqlite3.Connection, mailer) -> bool:
    msg = _validated(message_body)
    txn = msg["transaction_id"]

    with db:
        db.execute("CREATE TABLE IF NOT EXISTS sent_receipts (transaction_id TEXT PRIMARY KEY)")
    if db.execute("SELECT 1 FROM sent_receipts WHERE transaction_id = ?", (txn,)).fetchone():
        return False

    charge_id = gateway.charge(msg["card_token"], msg["amount_cents"], idempotency_key=txn)
    with db:  # commits on success
        db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
                   (charge_id, msg["order_id"]))

    mailer.send(msg["email"], "Payment receipt",
                f"Thanks! Order {msg['order_id']} is paid ({msg['amount_cents']} cents, {charge_id}).")
    with db:
        db.execute("INSERT OR IGNORE INTO sent_receipts (transaction_id) VALUES (?)", (txn,))
    return True
