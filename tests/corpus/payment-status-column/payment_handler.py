"""Idempotent payments: each transaction moves charging -> charged -> done in processed_payments."""
import json

REQUIRED = {"transaction_id": str, "order_id": str, "card_token": str, "email": str}


def parse(message_body):
    try:
        message = json.loads(message_body)
    except ValueError:
        raise ValueError("message is not JSON")
    if not isinstance(message, dict):
        raise ValueError("message is not an object")
    for field, kind in REQUIRED.items():
        if not isinstance(message.get(field), kind):
            raise ValueError(f"missing or invalid {field}")
    amount = message.get("amount_cents")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise ValueError("amount_cents must be a positive integer")
    return message


def process_payment(message_body, gateway, db, mailer):
    message = parse(message_body)
    tx = message["transaction_id"]
    db.execute("""CREATE TABLE IF NOT EXISTS processed_payments (
                      transaction_id TEXT PRIMARY KEY,
                      status TEXT NOT NULL,      -- charging | charged | done
                      charge_id TEXT)""")
    db.commit()

    row = db.execute("SELECT status, charge_id FROM processed_payments WHERE transaction_id = ?",
                     (tx,)).fetchone()
    if row is None:
        db.execute("INSERT INTO processed_payments (transaction_id, status) VALUES (?, 'charging')", (tx,))
        db.commit()
        status, charge_id = "charging", None
    else:
        status, charge_id = row

    if status == "done":
        return False

    if status == "charging":
        # We may have charged already (reply lost, crash): the idempotency key makes this safe.
        charge_id = gateway.charge(message["card_token"], message["amount_cents"], idempotency_key=tx)
        db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
                   (charge_id, message["order_id"]))
        db.execute("UPDATE processed_payments SET status = 'charged', charge_id = ? WHERE transaction_id = ?",
                   (charge_id, tx))
        db.commit()

    mailer.send(message["email"], f"Your receipt for order {message['order_id']}",
                f"Amount: {message['amount_cents'] / 100:.2f}\nCharge: {charge_id}\n")
    db.execute("UPDATE processed_payments SET status = 'done' WHERE transaction_id = ?", (tx,))
    db.commit()
    return True
