"""Payment handler with a per-transaction step log."""
import json

STEP_CHARGED = "charged"
STEP_RECEIPT = "receipt"


class PaymentMessage:
    FIELDS = {"transaction_id": str, "order_id": str, "card_token": str,
              "amount_cents": int, "email": str}

    def __init__(self, raw):
        for name, kind in self.FIELDS.items():
            value = raw.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"field {name!r} must be {kind.__name__}")
            setattr(self, name, value)
        if self.amount_cents <= 0:
            raise ValueError("amount_cents must be positive")

    @classmethod
    def parse(cls, body):
        try:
            raw = json.loads(body)
        except (TypeError, ValueError) as exc:
            raise ValueError("body is not JSON") from exc
        if not isinstance(raw, dict):
            raise ValueError("body is not a JSON object")
        return cls(raw)


class StepLog:
    def __init__(self, db):
        self.db = db
        db.execute("CREATE TABLE IF NOT EXISTS payment_steps ("
                   "transaction_id TEXT NOT NULL, step TEXT NOT NULL, value TEXT,"
                   " PRIMARY KEY (transaction_id, step))")
        db.commit()

    def get(self, txn, step):
        row = self.db.execute("SELECT value FROM payment_steps WHERE transaction_id = ? AND step = ?",
                              (txn, step)).fetchone()
        return row  # None when the step has not happened

    def record(self, txn, step, value=None):
        self.db.execute("INSERT OR REPLACE INTO payment_steps (transaction_id, step, value) "
                        "VALUES (?, ?, ?)", (txn, step, value))


def process_payment(message_body: str, gateway, db, mailer) -> bool:
    msg = PaymentMessage.parse(message_body)
    log = StepLog(db)

    charged = log.get(msg.transaction_id, STEP_CHARGED)
    receipted = log.get(msg.transaction_id, STEP_RECEIPT)
    if charged is not None and receipted is not None:
        return False

    if charged is None:
        charge_id = gateway.charge(msg.card_token, msg.amount_cents,
                                   idempotency_key=msg.transaction_id)
        # step and order update commit together
        log.record(msg.transaction_id, STEP_CHARGED, charge_id)
        db.execute("UPDATE orders SET status = ?, charge_id = ? WHERE order_id = ?",
                   ("paid", charge_id, msg.order_id))
        db.commit()
    else:
        charge_id = charged[0]

    if receipted is None:
        try:
            mailer.send(msg.email, f"Payment received for {msg.order_id}",
                        f"Amount: ${msg.amount_cents / 100:.2f}\nCharge: {charge_id}")
        except Exception as exc:
            print(f"could not send receipt for {msg.order_id}: {exc}")
        log.record(msg.transaction_id, STEP_RECEIPT)
        db.commit()
    return True
