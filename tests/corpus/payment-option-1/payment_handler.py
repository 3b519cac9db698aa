"""The course's Option 1: idempotency tokens checked in our own database."""
import json


def parse(message_body):
    try:
        message = json.loads(message_body)
    except ValueError:
        raise ValueError("not JSON")
    if not isinstance(message, dict):
        raise ValueError("not an object")
    for key in ("transaction_id", "order_id", "card_token", "email"):
        if not isinstance(message.get(key), str):
            raise ValueError(f"bad {key}")
    amount = message.get("amount_cents")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("bad amount_cents")
    return message


def already_processed(db, key):
    return db.execute("SELECT 1 FROM processed WHERE idempotency_key = ?", (key,)).fetchone() is not None


def mark_processed(db, key):
    db.execute("INSERT INTO processed (idempotency_key) VALUES (?)", (key,))
    db.commit()


def process_payment(message_body, gateway, db, mailer):
    message = parse(message_body)
    db.execute("CREATE TABLE IF NOT EXISTS processed (idempotency_key TEXT PRIMARY KEY)")
    idempotency_key = message["transaction_id"]
    if already_processed(db, idempotency_key):
        return False  # Skip, already done

    charge_id = gateway.charge(message["card_token"], message["amount_cents"])
    db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
               (charge_id, message["order_id"]))
    db.commit()
    mailer.send(message["email"], "Receipt", f"Charged {message['amount_cents']} cents: {charge_id}")
    mark_processed(db, idempotency_key)
    return True
