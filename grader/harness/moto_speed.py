"""Two pure-function shortcuts in moto's SQS, applied once in the grading process.

Bulk grading sends a few hundred requests per submission through moto; profiling showed a third
of moto's time in re-deriving every queue attribute to read one (retention, on every received
message) and in converting the same attribute names from CamelCase again and again. Both
replacements return exactly what the originals return.
"""
from __future__ import annotations

import functools
from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    import moto.core.utils
    import moto.sqs.models as sqs_models
    from moto.core.utils import unix_time

    cached = functools.lru_cache(maxsize=1024)(moto.core.utils.camelcase_to_underscores)
    moto.core.utils.camelcase_to_underscores = cached
    sqs_models.camelcase_to_underscores = cached

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    _applied = True
