"""Exercise 3: an idempotent payment handler (module 5, discussion question 2)."""
import json

_STRING_FIELDS = ("transaction_id", "order_id", "card_token", "email")


def _parse(message_body):
    try:
        msg = json.loads(message_body)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"message body is not JSON: {exc}") from exc
    if not isinstance(msg, dict):
        raise ValueError("message body must be a JSON object")
    for field in _STRING_FIELDS:
        if not isinstance(msg.get(field), str):
            raise ValueError(f"{field} must be a string")
    amount = msg.get("amount_cents")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError("amount_cents must be a positive integer")
    return msg


def _ensure_schema(db):
    db.execute(
        """CREATE TABLE IF NOT EXISTS payment_progress (
               transaction_id TEXT PRIMARY KEY,
               charge_id      TEXT,
               receipt_sent   INTEGER NOT NULL DEFAULT 0
           )"""
    )
    db.commit()


def process_payment(message_body: str, gateway, db, mailer) -> bool:
    msg = _parse(message_body)
    _ensure_schema(db)
    txn = msg["transaction_id"]

    row = db.execute(
        "SELECT charge_id, receipt_sent FROM payment_progress WHERE transaction_id = ?",
        (txn,),
    ).fetchone()
    charge_id, receipt_sent = row if row else (None, 0)

    if charge_id is not None and receipt_sent:
        return False  # already charged, paid and receipted

    if charge_id is None:
        # The transaction id doubles as the idempotency key: if an earlier delivery's
        # charge went through but its reply was lost, this returns that same charge.
        charge_id = gateway.charge(msg["card_token"], msg["amount_cents"], idempotency_key=txn)
        db.execute("INSERT OR IGNORE INTO payment_progress (transaction_id) VALUES (?)", (txn,))
        db.execute("UPDATE payment_progress SET charge_id = ? WHERE transaction_id = ?",
                   (charge_id, txn))
        db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
                   (charge_id, msg["order_id"]))
        db.commit()

    mailer.send(
        msg["email"],
        f"Receipt for order {msg['order_id']}",
        f"We charged {msg['amount_cents'] / 100:.2f} for order {msg['order_id']} "
        f"(charge {charge_id}). Thank you!",
    )
    db.execute("UPDATE payment_progress SET receipt_sent = 1 WHERE transaction_id = ?", (txn,))
    db.commit()
    return True
