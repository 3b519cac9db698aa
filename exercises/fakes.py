"""Stand-ins for a payment gateway, a mail server and the orders database, to try
``payment_handler.process_payment`` by hand (pure standard library).

They behave as the exercise contract says, and can be told to fail on chosen calls so you can
replay the failures a real system sees: the gateway takes the money but its reply is lost, the
mail server is down, the process crashes and the message is delivered again.

    >>> from fakes import FakeGateway, FakeMailer, make_orders_db
    >>> gateway = FakeGateway(lose_reply_on={1})     # 1st charge goes through, reply is lost
    >>> mailer = FakeMailer(fail_on={1})             # 1st receipt: mail server down
    >>> db = make_orders_db(":memory:", "ORD-1", 4999)

Calls are counted from 1, per fake.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass


class GatewayReplyLost(ConnectionError):
    """The charge went through, but its reply never reached us: the money was taken."""


class GatewayDown(ConnectionError):
    """The gateway could not be reached: nothing was charged."""


class MailServerDown(ConnectionError):
    """The mail server refused the message: nothing was sent."""


@dataclass(frozen=True)
class Charge:
    """One charge the gateway really made."""

    charge_id: str
    card_token: str
    amount_cents: int
    idempotency_key: str | None


@dataclass(frozen=True)
class Mail:
    """One mail the mailer really sent."""

    to: str
    subject: str
    body: str


class FakeGateway:
    """A payment gateway that honours idempotency keys like real payment APIs do.

    ``charge(card_token, amount_cents, idempotency_key=None)`` returns a charge id. A repeated
    call with an ``idempotency_key`` seen before returns the first call's charge id and charges
    nothing more; a call without a key always charges.

    ``lose_reply_on``: numbers of the calls (1, 2, ...) that raise ``GatewayReplyLost`` *after*
    doing their work (the money was taken, the caller never learns the charge id).
    ``down_on``: numbers of the calls that raise ``GatewayDown`` *before* charging anything.

    ``charges`` lists every charge really made (so ``len(gateway.charges)`` is the number of times
    the customer paid); ``calls`` counts every call, including repeats and failures.
    """

    def __init__(self, lose_reply_on: Iterable[int] = (), down_on: Iterable[int] = ()) -> None:
        self.lose_reply_on = set(lose_reply_on)
        self.down_on = set(down_on)
        self.charges: list[Charge] = []
        self.calls = 0
        self._by_key: dict[str, str] = {}

    def charge(self, card_token: str, amount_cents: int, idempotency_key: str | None = None) -> str:
        self.calls += 1
        if self.calls in self.down_on:
            raise GatewayDown(f"charge call {self.calls}: payment gateway unreachable, nothing charged")
        if idempotency_key is not None and idempotency_key in self._by_key:
            charge_id = self._by_key[idempotency_key]  # a replay: same answer, no new charge
        else:
            charge_id = f"ch_{len(self.charges) + 1:04d}"
            self.charges.append(Charge(charge_id, card_token, amount_cents, idempotency_key))
            if idempotency_key is not None:
                self._by_key[idempotency_key] = charge_id
        if self.calls in self.lose_reply_on:
            raise GatewayReplyLost(f"charge call {self.calls}: the charge went through "
                                   "but its reply was lost")
        return charge_id


class FakeMailer:
    """A mail server. ``send(to, subject, body)`` records the mail in ``sent``.

    ``fail_on``: numbers of the calls (1, 2, ...) that raise ``MailServerDown``; nothing is sent then.
    """

    def __init__(self, fail_on: Iterable[int] = ()) -> None:
        self.fail_on = set(fail_on)
        self.sent: list[Mail] = []
        self.calls = 0

    def send(self, to: str, subject: str, body: str) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise MailServerDown(f"send call {self.calls}: mail server down, nothing sent")
        self.sent.append(Mail(to, subject, body))


def make_orders_db(path: str | os.PathLike, order_id: str, amount_cents: int) -> sqlite3.Connection:
    """Create the contract's ``orders`` table at ``path`` holding one ``'pending'`` order, and
    return a connection to it.

    ``path`` must not exist yet (start each experiment from a fresh file), or be ``":memory:"``.
    To play a crash, drop the connection without committing (``db.close()``) and open a new one
    with ``sqlite3.connect(path)``: whatever was not committed is gone, as after a real crash.
    """
    if str(path) != ":memory:" and os.path.exists(path):
        raise FileExistsError(f"{path} already exists: delete it or choose another path, "
                              "so the experiment starts from a pending order")
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, amount_cents INTEGER NOT NULL, "
                   "status TEXT NOT NULL, charge_id TEXT)")
        db.execute("INSERT INTO orders (order_id, amount_cents, status, charge_id) "
                   "VALUES (?, ?, 'pending', NULL)", (order_id, amount_cents))
    return db
