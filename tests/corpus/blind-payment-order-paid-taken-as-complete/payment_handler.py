"""Payment handler that uses the orders row itself as the charge record."""
import json
from datetime import datetime, timezone


def _load(message_body):
    try:
        data = json.loads(message_body)
    except (TypeError, json.JSONDecodeError):
        raise ValueError("invalid JSON")
    if type(data) is not dict:
        raise ValueError("expected an object")
    for key in ("transaction_id", "order_id", "card_token", "email"):
        if type(data.get(key)) is not str:
            raise ValueError(f"missing or non-string {key}")
    if type(data.get("amount_cents")) is not int or data["amount_cents"] < 1:
        raise ValueError("amount_cents must be a positive integer")
    return data


def process_payment(message_body: str, gateway, db, mailer) -> bool:
    p = _load(message_body)

    db.execute("CREATE TABLE IF NOT EXISTS receipts ("
               " order_id TEXT PRIMARY KEY,"
               " transaction_id TEXT NOT NULL,"
               " sent_at TEXT NOT NULL)")
    db.commit()

    status, charge_id = db.execute(
        "SELECT status, charge_id FROM orders WHERE order_id = ?", (p["order_id"],)
    ).fetchone() or (None, None)
    receipt = db.execute(
        "SELECT 1 FROM receipts WHERE order_id = ?", (p["order_id"],)
    ).fetchone()

    if status == "paid":
        return False

    if status != "paid":
        charge_id = gateway.charge(p["card_token"], p["amount_cents"],
                                   idempotency_key=p["transaction_id"])
        db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
                   (charge_id, p["order_id"]))
        db.commit()

    mailer.send(p["email"], "Your receipt",
                f"Order {p['order_id']}: {p['amount_cents']} cents, charge {charge_id}.")
    db.execute("INSERT INTO receipts (order_id, transaction_id, sent_at) VALUES (?, ?, ?)",
               (p["order_id"], p["transaction_id"], datetime.now(timezone.utc).isoformat()))
    db.commit()
    return True
