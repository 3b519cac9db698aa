"""The payment world of exercise 3, as the grader keeps it: a gateway that takes money, a mailer
that sends receipts, an orders database, and deliveries of one message that may fail anywhere.

Every fake can be told, call by call, to fail: the gateway before charging, or after charging with
its reply lost; the mailer before sending; and any of them can crash the student's process at that
point (``SimulatedCrash``), as a consumer dies mid-message and the broker redelivers.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.harness.seeded import Data
from grader.sandbox.client import (Database, SimulatedCrash, StudentCrashed, StudentProcess,
                                   StudentRaised)
from grader.bulk.cleanup import remove_tree
from grader.sandbox.scratch import ScratchSpace


class GatewayError(Exception):
    """The gateway could not be reached: nothing was charged."""


class GatewayTimeout(Exception):
    """The reply was lost after the charge went through: the money was taken."""


class MailServerDown(Exception):
    """The mail server refused the message: nothing was sent."""


@dataclass
class Charge:
    id: str
    card_token: Any
    amount_cents: Any
    idempotency_key: Any


@dataclass
class Gateway:
    """Charges like a real payment API: one charge per idempotency key; none without a key is spared."""

    sandbox_methods = ("charge",)
    plan: dict[int, str] = field(default_factory=dict)  # call index -> "down" | "lose_reply" | "crash_before" | "crash_after"
    charges: list[Charge] = field(default_factory=list)
    calls: int = 0
    _by_key: dict[Any, Charge] = field(default_factory=dict)

    def charge(self, card_token: Any = None, amount_cents: Any = None, idempotency_key: Any = None) -> str:
        step = self.plan.get(self.calls)
        self.calls += 1
        if step == "down":
            raise GatewayError("payment gateway unavailable (nothing was charged)")
        if step == "crash_before":
            raise SimulatedCrash("the process died while calling the gateway, before the charge")
        if idempotency_key is not None and idempotency_key in self._by_key:
            charge = self._by_key[idempotency_key]
        else:
            charge = Charge(f"ch_{len(self.charges) + 1:04d}", card_token, amount_cents, idempotency_key)
            self.charges.append(charge)
            if idempotency_key is not None:
                self._by_key[idempotency_key] = charge
        if step == "lose_reply":
            raise GatewayTimeout("gateway timed out waiting for the reply (the charge went through)")
        if step == "crash_after":
            raise SimulatedCrash("the process died right after the gateway charged the card")
        return charge.id


@dataclass
class Receipt:
    to: Any
    subject: Any
    body: Any


@dataclass
class Mailer:
    """Sends receipts; a failed send sent nothing."""

    sandbox_methods = ("send",)
    plan: dict[int, str] = field(default_factory=dict)  # call index -> "down" | "crash_after"
    sent: list[Receipt] = field(default_factory=list)
    calls: int = 0

    def send(self, to: Any = None, subject: Any = None, body: Any = None) -> None:
        step = self.plan.get(self.calls)
        self.calls += 1
        if step == "down":
            raise MailServerDown("mail server unavailable (nothing was sent)")
        self.sent.append(Receipt(to, subject, body))
        if step == "crash_after":
            raise SimulatedCrash("the process died right after the receipt was sent")


DB_NAME = "shop.sqlite3"
COPY_LIMIT = 8 * 1024 * 1024
QUERY_STEPS = 2000  # thousands of sqlite steps: far more than one row of a small table needs
SCHEMA = ("CREATE TABLE orders (order_id TEXT PRIMARY KEY, amount_cents INTEGER NOT NULL, "
          "status TEXT NOT NULL, charge_id TEXT)")


@dataclass
class Delivery:
    """How one delivery of the message ended, as the broker would see it."""

    outcome: str  # "returned" (acknowledged), "raised" or "crashed" (redelivered later)
    value: Any = None
    error: Exception | None = None

    @property
    def acknowledged(self) -> bool:
        return self.outcome == "returned"


class PaymentWorld:
    """Pending orders in one database, their payment messages, and the student's handler
    receiving them again and again. ``message`` is the first order's; most tests have just one."""

    def __init__(self, student: StudentProcess | None, folder: Path, space: ScratchSpace, data: Data,
                 orders: int = 1, amount_cents: int | None = None) -> None:
        self.student = student
        self.gateway = Gateway()
        self.mailer = Mailer()
        self.folder, self.space = folder, space
        self.db_path = folder / DB_NAME  # made here while only root can write in the folder
        # ids, cards, amounts and addresses of their own: nothing to guess, nothing shared between
        # tests (the handler's process serves test after test) or between the orders of one test
        self.messages = [data.payment() for _ in range(orders)]
        if amount_cents is not None:
            for message in self.messages:
                message["amount_cents"] = amount_cents
        self.message = self.messages[0]
        with sqlite3.connect(self.db_path) as db:
            db.execute(SCHEMA)
            for message in self.messages:
                db.execute("INSERT INTO orders VALUES (?, ?, 'pending', NULL)",
                           (message["order_id"], message["amount_cents"]))
        db.close()
        self.deliveries: list[Delivery] = []

    @property
    def body(self) -> str:
        return json.dumps(self.message)

    def deliver(self, body: str | None = None) -> Delivery:
        """One delivery on a new connection; after a crash the next one runs in a new process."""
        assert self.student is not None
        try:
            value = self.student.call("process_payment", self.body if body is None else body,
                                      self.gateway, Database(str(self.db_path)), self.mailer)
            delivery = Delivery("returned", value)
        except StudentRaised as exc:
            delivery = Delivery("raised", error=exc)
        except StudentCrashed as exc:
            self.student.restart()
            delivery = Delivery("crashed", error=exc)
        self.deliveries.append(delivery)
        return delivery

    def deliver_until_acknowledged(self, limit: int = 6, body: str | None = None) -> Delivery:
        """Redeliver, as the broker does, until the handler returns (or the limit runs out)."""
        for _ in range(limit):
            delivery = self.deliver(body)
            if delivery.acknowledged:
                return delivery
        return delivery

    def body_of(self, message: dict[str, Any]) -> str:
        return json.dumps(message)

    def order(self, order_id: str | None = None) -> tuple[str, str | None]:
        """An order's status and charge id (the first order's by default), as committed: read
        from copies of the database and its journal (never through a link, only regular files,
        at most ``COPY_LIMIT`` bytes in all), so sqlite rolls back what the student's code left
        uncommitted and the grader never opens what the student made. ``orders`` must still be
        the contract's table (a view or a trigger of the student's could make the grader's own
        query spin or swell), and the query has a step budget."""
        copy = self.space.private_copy(self.folder, [DB_NAME + suffix for suffix in ("", "-journal", "-wal")],
                                       limit=COPY_LIMIT)
        try:
            db = sqlite3.connect(copy / DB_NAME, timeout=0)
            try:
                db.execute("PRAGMA trusted_schema = OFF")
                db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1 << 20)  # no value the student made swells the grader
                db.set_progress_handler(_Budget(QUERY_STEPS), 1000)
                kinds = db.execute("SELECT type FROM sqlite_master WHERE name = 'orders' COLLATE NOCASE "
                                   "OR (type = 'trigger' AND tbl_name = 'orders' COLLATE NOCASE)").fetchall()
                if kinds != [("table",)]:
                    return ("unreadable", None)
                row = db.execute("SELECT substr(CAST(status AS TEXT), 1, 200), substr(CAST(charge_id AS TEXT), 1, 200),"
                                 " charge_id IS NULL FROM orders WHERE order_id = ?",
                                 (order_id or self.message["order_id"],)).fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return ("unreadable", None)
        finally:
            remove_tree(copy)
        if row is None:
            return ("missing", None)
        return (str(row[0]), None if row[2] else str(row[1]))


class _Budget:
    """A progress handler that stops a query after so many thousand virtual-machine steps."""

    def __init__(self, steps: int) -> None:
        self.left = steps

    def __call__(self) -> int:
        self.left -= 1
        return 1 if self.left < 0 else 0
