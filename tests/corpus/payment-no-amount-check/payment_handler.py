import json


def process_payment(message_body, gateway, db, mailer):
    try:
        message = json.loads(message_body)
    except ValueError:
        raise ValueError("not JSON")
    if not isinstance(message, dict):
        raise ValueError("not an object")
    for key in ("transaction_id", "order_id", "card_token", "amount_cents", "email"):
        if key not in message:
            raise ValueError(f"missing {key}")
    for key in ("transaction_id", "order_id", "card_token", "email"):
        if not isinstance(message[key], str):
            raise ValueError(f"{key} must be a string")

    tx = message["transaction_id"]
    db.execute("CREATE TABLE IF NOT EXISTS payment_log "
               "(transaction_id TEXT PRIMARY KEY, charge_id TEXT NOT NULL, receipt_sent INTEGER NOT NULL)")
    row = db.execute("SELECT charge_id, receipt_sent FROM payment_log WHERE transaction_id = ?",
                     (tx,)).fetchone()
    if row and row[1]:
        return False
    if row:
        charge_id = row[0]
    else:
        charge_id = gateway.charge(message["card_token"], message["amount_cents"], idempotency_key=tx)
        db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
                   (charge_id, message["order_id"]))
        db.execute("INSERT INTO payment_log VALUES (?, ?, 0)", (tx, charge_id))
        db.commit()
    mailer.send(message["email"], "Receipt", f"Charge {charge_id} for order {message['order_id']}")
    db.execute("UPDATE payment_log SET receipt_sent = 1 WHERE transaction_id = ?", (tx,))
    db.commit()
    return True
