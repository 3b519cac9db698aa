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


def process_payment(message_body, gateway, db, mailer):
    message = parse(message_body)
    tx = message["transaction_id"]
    db.execute("CREATE TABLE IF NOT EXISTS payments (transaction_id TEXT PRIMARY KEY, charge_id TEXT)")
    if db.execute("SELECT 1 FROM payments WHERE transaction_id = ?", (tx,)).fetchone():
        return False

    charge_id = gateway.charge(message["card_token"], message["amount_cents"], idempotency_key=tx)
    with db:
        db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
                   (charge_id, message["order_id"]))
        db.execute("INSERT INTO payments (transaction_id, charge_id) VALUES (?, ?)", (tx, charge_id))

    # The money is taken and recorded; a receipt is nice to have, don't fail the payment over it.
    try:
        mailer.send(message["email"], "Your receipt", f"Order {message['order_id']}, charge {charge_id}")
    except Exception as error:
        print("could not send the receipt:", error)
    return True
