"""Exercise 3: idempotent payments, progress recorded step by step in a table of our own."""
import json


def _validate(body):
    try:
        msg = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(msg, dict):
        raise ValueError("not an object")
    for key in ("transaction_id", "order_id", "card_token", "email"):
        if not isinstance(msg.get(key), str):
            raise ValueError(f"bad {key}")
    amount = msg.get("amount_cents")
    if type(amount) is not int or amount <= 0:
        raise ValueError("bad amount_cents")
    return msg


def process_payment(message_body, gateway, db, mailer):
    msg = _validate(message_body)
    tx = msg["transaction_id"]
    db.execute("CREATE TABLE IF NOT EXISTS processed_payments "
               "(transaction_id TEXT PRIMARY KEY, status TEXT NOT NULL, charge_id TEXT)")
    row = db.execute("SELECT status, charge_id FROM processed_payments WHERE transaction_id = ?",
                     (tx,)).fetchone()
    status, charge_id = row if row else (None, None)
    if status == "receipt_sent":
        return False
    if status != "paid":
        # Safe to repeat: the gateway dedupes on the idempotency key.
        charge_id = gateway.charge(msg["card_token"], msg["amount_cents"], idempotency_key=tx)
        with db:
            db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
                       (charge_id, msg["order_id"]))
            db.execute("INSERT OR REPLACE INTO processed_payments VALUES (?, 'paid', ?)", (tx, charge_id))
    mailer.send(msg["email"], f"Receipt for order {msg['order_id']}",
                f"We charged {msg['amount_cents']} cents (charge {charge_id}). Thank you!")
    with db:
        db.execute("UPDATE processed_payments SET status = 'receipt_sent' WHERE transaction_id = ?", (tx,))
    return True
