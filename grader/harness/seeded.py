"""The data a grading run uses, drawn from the course seed.

Nothing a submission could know without asking the broker may earn a point: the account id, the
region, the endpoint, the queue names and the message contents all come from the seed, and from
the test's name so that adding a test never changes another's data. The same seed gives the same
values on every run and every machine (``random.Random`` seeded with a string is stable).
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

GUESSABLE_ACCOUNT = "123456789012"
REGIONS = ("eu-west-3", "ap-southeast-2", "ca-central-1", "sa-east-1", "eu-north-1", "ap-northeast-1",
           "us-west-2", "eu-central-1")
# POSIX zones need no tz database in the box; none of them is UTC, several are not whole hours
ZONES = ("<-0330>3:30", "<+0545>-5:45", "<+0930>-9:30", "<-05>5", "<+08>-8", "<+0530>-5:30", "<-10>10",
         "<+13>-13")
WORDS = ("amber", "birch", "cedar", "delta", "ember", "fjord", "gale", "harbor", "iris", "juniper", "kelp",
         "lumen", "maple", "nova", "onyx", "pine", "quartz", "raven", "sierra", "tundra", "umber", "vale",
         "willow", "xenon", "yarrow", "zephyr")


@dataclass(frozen=True)
class Course:
    """The run's broker and box: who, where and when a submission is graded."""

    seed: int
    account: str
    region: str
    endpoint: str
    zone: str
    key: str  # access key id of the client handed to the student's functions

    @classmethod
    def from_seed(cls, seed: int) -> "Course":
        rng = random.Random(f"brokerlab-course/{seed}")
        account = GUESSABLE_ACCOUNT
        while account == GUESSABLE_ACCOUNT:
            account = str(rng.randrange(10 ** 11, 10 ** 12))
        region = rng.choice(REGIONS)
        endpoint = f"http://sqs-{rng.choice(WORDS)}{rng.randrange(10, 99)}.brokerlab.test:{rng.randrange(4000, 9999)}"
        key = "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        return cls(seed, account, region, endpoint, rng.choice(ZONES), key)

    def box_env(self) -> dict[str, str]:
        """What every box of the run sees: a zone that is not UTC, the region and the endpoint."""
        return {"TZ": self.zone, "AWS_DEFAULT_REGION": self.region, "AWS_ENDPOINT_URL": self.endpoint}

    def data(self, test: str) -> "Data":
        return Data(random.Random(f"brokerlab-data/{self.seed}/{test}"))


class Data:
    """One test's values: names, task contents, amounts and ids nobody can guess."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def word(self) -> str:
        return self.rng.choice(WORDS)

    def name(self, base: str) -> str:
        """A queue name (SQS allows letters, digits, '-' and '_')."""
        return f"{base}-{self.word()}-{self.rng.randrange(100, 999)}"

    def int(self, low: int, high: int, avoid: tuple[int, ...] = ()) -> int:
        value = self.rng.randint(low, high)
        while value in avoid:
            value = self.rng.randint(low, high)
        return value

    def task_data(self) -> dict[str, Any]:
        """An object as a task's data: strings, numbers, a flag, sometimes nested."""
        w = self.word()
        data: dict[str, Any] = {f"{w}_id": f"{w.upper()}-{self.rng.randrange(10000, 99999)}",
                                "quantity": self.rng.randrange(1, 500)}
        if self.rng.random() < 0.5:
            data["price"] = self.rng.randrange(100, 99999) / 100
        if self.rng.random() < 0.5:
            data["tags"] = [self.word(), self.word()]
        if self.rng.random() < 0.5:
            data["meta"] = {"urgent": self.rng.random() < 0.5, "note": f"{self.word()} {self.word()}"}
        return data

    def payment(self) -> dict[str, Any]:
        w, n = self.word(), self.rng.randrange(100000, 999999)
        return {"transaction_id": f"txn-{w}-{n}", "order_id": f"ORD-{n + 17}-{w[:3].upper()}",
                "card_token": f"tok_{self.word()}_{self.rng.randrange(1000, 9999)}",
                "amount_cents": self.rng.randrange(101, 250000),
                "email": f"{self.word()}.{self.word()}{self.rng.randrange(1, 99)}@example.org"}
