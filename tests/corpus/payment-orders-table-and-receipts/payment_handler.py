import json


def validate(body):
    try:
        msg = json.loads(body)
    except (TypeError, ValueError):
        raise ValueError("body is not JSON")
    if type(msg) is not dict:
        raise ValueError("body is not a JSON object")
    for key in ("transaction_id", "order_id", "card_token", "email"):
        if type(msg.get(key)) is not str:
            raise ValueError(f"{key} must be a string")
    if type(msg.get("amount_cents")) is not int or msg["amount_cents"] <= 0:
        raise ValueError("amount_cents must be a positive integer")
    return msg


def process_payment(message_body, gateway, db, mailer):
    msg = validate(message_body)
    order_id = msg["order_id"]
    db.execute("CREATE TABLE IF NOT EXISTS receipts (order_id TEXT PRIMARY KEY, charge_id TEXT NOT NULL)")

    status, charge_id = db.execute("SELECT status, charge_id FROM orders WHERE order_id = ?",
                                   (order_id,)).fetchone()
    receipt = db.execute("SELECT 1 FROM receipts WHERE order_id = ?", (order_id,)).fetchone()
    if status == "paid" and receipt:
        return False  # charged, paid and receipt sent already

    if status != "paid":
        charge_id = gateway.charge(msg["card_token"], msg["amount_cents"],
                                   idempotency_key=msg["transaction_id"])
        db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?", (charge_id, order_id))
        db.commit()

    mailer.send(msg["email"], "Payment receipt",
                f"Order {order_id} is paid ({msg['amount_cents']} cents, charge {charge_id}).")
    db.execute("INSERT INTO receipts (order_id, charge_id) VALUES (?, ?)", (order_id, charge_id))
    db.commit()
    return True
