import json


def already_processed(db, idempotency_key):
    row = db.execute("SELECT 1 FROM processed WHERE transaction_id = ?", (idempotency_key,)).fetchone()
    return row is not None


def mark_processed(db, idempotency_key):
    db.execute("INSERT INTO processed (transaction_id) VALUES (?)", (idempotency_key,))
    db.commit()


def process_payment(message_body, gateway, db, mailer):
    # Option 1: idempotency tokens
    message = json.loads(message_body)
    idempotency_key = message['transaction_id']
    db.execute("CREATE TABLE IF NOT EXISTS processed (transaction_id TEXT PRIMARY KEY)")
    if already_processed(db, idempotency_key):
        return False  # Skip, already done

    charge_id = gateway.charge(message['card_token'], message['amount_cents'])
    db.execute("UPDATE orders SET status = 'paid', charge_id = ? WHERE order_id = ?",
               (charge_id, message['order_id']))
    db.commit()
    mailer.send(message['email'], "Your receipt",
                f"You paid {message['amount_cents']} cents for order {message['order_id']}.")
    mark_processed(db, idempotency_key)
    return True
