# Attack: a handler that rejects every message, valid or not.
def process_payment(message_body, gateway, db, mailer):
    raise ValueError("rejected")
