"""Exercise 3, payment_handler.py: an idempotent handler under at-least-once delivery.

Each test delivers the same payment message again and again, as the broker does after a failure,
each time on a new connection to the same sqlite file (and in a new process after a crash), and
judges by the money the gateway took, the order row committed, and the receipts the mailer sent.
"""
from __future__ import annotations

import json

import pytest

from grader.harness.plugin import expect

IDEMPOTENCY_LESSON = ("The course's Option 1 checks 'already processed' in its own database, but if the gateway's "
                      "reply is lost (or the process dies) after the charge, nothing was recorded and the retry "
                      "charges again. Pass the transaction id as the gateway's idempotency_key: the gateway itself "
                      "then refuses to charge twice.")
PROPAGATE_LESSON = ("When a step fails, let the exception propagate: the message is not acknowledged and the "
                    "broker delivers it again, so the payment can be completed later.")


def check_settled(shop, receipts: tuple[int, ...] = (1,), message: dict | None = None) -> None:
    """The single charge, the paid order with that charge's id, and the receipts (of ``message``,
    the first order's by default, among the others of the same database)."""
    message = message or shop.message
    of = f" for order {message['order_id']}" if len(shop.messages) > 1 else ""

    def of_message(charge, m: dict) -> bool:  # a customer may pay two orders with one card: amounts differ
        return charge.card_token == m["card_token"] and charge.amount_cents == m["amount_cents"]

    charges = [c for c in shop.gateway.charges if of_message(c, message)]
    strays = [c for c in shop.gateway.charges if not any(of_message(c, m) for m in shop.messages)]
    if strays:
        expect(False, f"A charge was for card {strays[0].card_token!r} and {strays[0].amount_cents!r} cents, which "
                      "no payment message holds.")
    expect(charges, f"The card{of} was never charged its {message['amount_cents']} cents.")
    expect(len(charges) == 1, f"The card{of} was charged {len(charges)} times for one payment: a redelivered "
                              "message must never charge again.")
    charge = charges[0]
    status, charge_id = shop.order(message["order_id"])
    expect(status == "paid", f"The order{of} ended '{status}', not 'paid' (was the change committed?).")
    expect(charge_id == charge.id, f"The order{of}'s charge_id is {charge_id!r}, not its charge's id {charge.id!r}.")
    sent = [r for r in shop.mailer.sent if r.to == message["email"]]
    strays = [r for r in shop.mailer.sent if all(r.to != m["email"] for m in shop.messages)]
    if strays:
        expect(False, f"A receipt went to {strays[0].to!r}, not to the payment's email.")
    expect(len(sent) in receipts, f"{len(sent)} receipts were sent to {message['email']}{of}; exactly one is "
                                  "expected.")


def first_delivery_not_acknowledged(shop, what: str) -> None:
    delivery = shop.deliver()
    expect(not delivery.acknowledged,
           f"When {what}, process_payment returned {delivery.value!r}: the message would be acknowledged with the "
           "payment unfinished. " + PROPAGATE_LESSON)


@pytest.mark.grade(points=4, concept="processing a payment",
                   lesson="Charge the card, mark the order paid with the charge id and commit, send one receipt.")
def test_charges_once_pays_and_sends_receipt(shop):
    delivery = shop.deliver()
    expect(delivery.outcome != "raised" or False,
           f"process_payment raised {getattr(delivery.error, 'type_name', '')}: "
           f"{getattr(delivery.error, 'message', '')[:200]}")
    check_settled(shop)
    expect(delivery.value is True, f"process_payment returned {delivery.value!r} after doing the work, not True.")


@pytest.mark.grade(points=3, concept="idempotent consumers",
                   lesson="At-least-once delivery means a completed message can arrive again: recognise it, charge "
                          "nothing, send nothing, and return False.")
def test_completed_message_again_does_nothing(shop):
    shop.deliver_until_acknowledged()
    again = shop.deliver()
    check_settled(shop)
    expect(again.acknowledged, f"The duplicate delivery raised {getattr(again.error, 'type_name', '')} instead of "
                               "being recognised as already complete.")
    expect(again.value is False, f"For an already completed payment process_payment returned {again.value!r}, "
                                 "not False.")


@pytest.mark.grade(points=4, concept="idempotency keys", lesson=IDEMPOTENCY_LESSON)
def test_reply_lost_after_charge(shop):
    shop.gateway.plan = {0: "lose_reply"}
    first_delivery_not_acknowledged(shop, "the gateway's reply was lost")
    shop.deliver_until_acknowledged()
    check_settled(shop)


@pytest.mark.grade(points=4, concept="completing after a failure", lesson=PROPAGATE_LESSON)
def test_mail_server_down(shop):
    shop.mailer.plan = {0: "down"}
    first_delivery_not_acknowledged(shop, "the mail server was down")
    shop.deliver_until_acknowledged()
    expect(shop.mailer.sent, "The receipt was never sent: the first attempt failed and the redelivery did not send "
                             "it (was the payment marked complete before the receipt went out?).")
    check_settled(shop)


@pytest.mark.grade(points=4, concept="crash recovery", lesson=IDEMPOTENCY_LESSON)
def test_crash_after_charge_before_commit(shop):
    shop.gateway.plan = {0: "crash_after"}
    shop.deliver()
    shop.deliver_until_acknowledged()
    check_settled(shop)


@pytest.mark.grade(points=3, concept="crash recovery",
                   lesson="Record a payment as done only after the work is done: a crash before the charge must "
                          "leave nothing that makes the redelivery skip the charge.")
def test_crash_before_charge(shop):
    shop.gateway.plan = {0: "crash_before"}
    shop.deliver()
    shop.deliver_until_acknowledged()
    check_settled(shop)


@pytest.mark.grade(points=2, concept="crash recovery",
                   lesson="If the process dies right after the receipt went out, the redelivery may send a second "
                          "receipt, but it must never charge again.")
def test_crash_after_receipt_sent(shop):
    shop.mailer.plan = {0: "crash_after"}
    shop.deliver()
    shop.deliver_until_acknowledged()
    check_settled(shop, receipts=(1, 2))


@pytest.mark.grade(points=3, concept="idempotent consumers",
                   lesson="Whatever fails, however often: one charge, a paid order, one receipt.")
def test_failures_in_a_row(shop):
    shop.gateway.plan = {0: "lose_reply", 1: "crash_after", 2: "crash_before"}
    shop.mailer.plan = {0: "down"}
    final = shop.deliver_until_acknowledged(limit=8)
    expect(final.acknowledged, f"After {len(shop.deliveries)} deliveries the payment was still not complete.")
    again = shop.deliver()
    check_settled(shop)
    expect(again.acknowledged and again.value is False,
           "Delivered once more after completing, process_payment did not return False.")


MALFORMED = [
    ("a body that is not JSON", "charge ada 49.99"),
    ("a JSON list", "[]"),
    ("no email", {"email": None}),
    ("no transaction_id", {"transaction_id": None}),
    ("amount_cents 0", {"amount_cents": 0}),
    ("a negative amount_cents", {"amount_cents": -4999}),
    ("amount_cents as a string", {"amount_cents": "4999"}),
    ("amount_cents as a float", {"amount_cents": 49.99}),
    ("amount_cents true (a JSON boolean is not an integer)", {"amount_cents": True}),
]


@pytest.mark.grade(points=4, concept="validating before side effects",
                   lesson="Validate the whole message first and raise ValueError before charging, writing or mailing "
                          "anything: a malformed message must leave no trace.")
def test_malformed_message_value_error(shop):
    for what, change in MALFORMED:
        if isinstance(change, str):
            body = change
        else:
            message = dict(shop.message)
            for key, value in change.items():
                if value is None:
                    message.pop(key)
                else:
                    message[key] = value
            body = json.dumps(message)
        delivery = shop.deliver(body)
        expect(delivery.outcome == "raised" and delivery.error.is_a("ValueError"),
               f"For {what}, process_payment "
               + (f"raised {delivery.error.type_name}" if delivery.outcome == "raised" else
                  f"returned {delivery.value!r}" if delivery.acknowledged else "crashed")
               + " instead of raising ValueError.")
        expect(shop.gateway.calls == 0, f"For {what}, the gateway was called before the message was validated.")
        expect(shop.mailer.calls == 0, f"For {what}, a mail was sent for an invalid message.")
        expect(shop.order() == ("pending", None), f"For {what}, the order was changed.")
    valid = shop.deliver()
    expect(not (valid.outcome == "raised" and valid.error.is_a("ValueError")),
           "process_payment raised ValueError for a well-formed message too: rejecting everything is not "
           "validating.")


@pytest.mark.grade(points=1, concept="validating before side effects",
                   lesson="amount_cents must be a positive integer: 1 cent is one, and is charged like any other.")
@pytest.mark.orders(1, amount_cents=1)
def test_one_cent_is_a_valid_amount(shop):
    delivery = shop.deliver()
    if not delivery.acknowledged:
        how = f"raised {delivery.error.type_name}" if delivery.outcome == "raised" else "crashed"
        expect(False, f"For a payment of 1 cent, process_payment {how}: 1 is a positive integer.")
    check_settled(shop)


@pytest.mark.grade(points=3, concept="idempotency keys",
                   lesson="Each payment message carries its own transaction id: key the charge and your progress on "
                          "it (not on the card or the order table as a whole), so that one payment's charge, paid "
                          "order or receipt never counts for another's.")
@pytest.mark.orders(3)
def test_several_payments_in_one_database(shop):
    first, second, third = shop.messages
    third["card_token"] = first["card_token"]  # one customer's card pays two of the orders
    shop.mailer.plan = {0: "down"}
    first_delivery_not_acknowledged(shop, "the mail server was down for the first of three payments")
    shop.deliver_until_acknowledged(body=shop.body_of(second))
    shop.gateway.plan = {shop.gateway.calls: "lose_reply"}
    shop.deliver(shop.body_of(third))
    for message in (third, first, second):
        shop.deliver_until_acknowledged(body=shop.body_of(message))
    for message in shop.messages:
        check_settled(shop, message=message)
    again = shop.deliver(shop.body_of(second))
    expect(again.acknowledged and again.value is False,
           "Delivered once more after its payment was complete, process_payment did not return False.")
    for message in shop.messages:
        check_settled(shop, message=message)
