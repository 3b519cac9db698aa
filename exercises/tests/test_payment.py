"""Public checks for exercise 3 (the hidden suite adds lost replies, mail outages and crashes)."""
import pytest

from grader.harness.plugin import expect


@pytest.mark.grade(points=2, concept="processing a payment")
def test_one_delivery_pays(shop):
    delivery = shop.deliver()
    expect(delivery.acknowledged, f"process_payment did not return: {delivery.error}")
    expect(len(shop.gateway.charges) == 1, f"The card was charged {len(shop.gateway.charges)} times.")
    expect(shop.order()[0] == "paid", "The order is not 'paid' (did you commit?).")
    expect(len(shop.mailer.sent) == 1, f"{len(shop.mailer.sent)} receipts were sent.")


@pytest.mark.grade(points=1, concept="idempotent consumers")
def test_duplicate_delivery(shop):
    shop.deliver()
    again = shop.deliver()
    expect(again.acknowledged and again.value is False, "A second delivery of a completed payment did not return False.")
    expect(len(shop.gateway.charges) == 1, "The duplicate delivery charged the card again.")
