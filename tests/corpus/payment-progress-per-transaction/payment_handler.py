import json

FIELDS = ("transaction_id", "order_id", "card_token", "email")


def parse(body):
    try:
        payment = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(payment, dict) or any(not isinstance(payment.get(f), str) for f in FIELDS):
        raise ValueError("not a payment")
    amount = payment.get("amount_cents")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("amount_cents must be a positive integer")
    return payment


def process_payment(message_body, gateway, db, mailer):
    payment = parse(message_body)
    db.execute("CREATE TABLE IF NOT EXISTS progress (txn TEXT PRIMARY KEY, charge_id TEXT, mailed INTEGER)")
    row = db.execute("SELECT charge_id, mailed FROM progress WHERE txn = ?", (payment["transaction_id"],)).fetchone()
    if row is not None and row[1]:
        return False
    if row is None:
        charge_id = gateway.charge(payment["card_token"], payment["amount_cents"],
                                   idempotency_key=payment["transaction_id"])
        with db:
            db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?", (charge_id, payment["order_id"]))
            db.execute("INSERT INTO progress VALUES (?, ?, 0)", (payment["transaction_id"], charge_id))
    else:
        charge_id = row[0]
    mailer.send(payment["email"], "Your receipt", f"Paid {payment['amount_cents']} cents, charge {charge_id}")
    with db:
        db.execute("UPDATE progress SET mailed = 1 WHERE txn = ?", (payment["transaction_id"],))
    return True
