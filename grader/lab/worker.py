"""What one producer or consumer process of the lab runs.

It imports the student's (or the reference) file by path, builds ``boto3.client("sqs")`` from the
environment exactly as the file's ``main()`` would, calls the contract's functions, and reports
what happened to the parent as plain dicts on a multiprocessing queue. The broker's side of every
delivery (message id, ``ApproximateReceiveCount``, which receipt was deleted) is read from the
client's own request/response hooks, so the report does not depend on what the student's code
chooses to return or print.

Kept free of moto and rich: it is imported by every process the lab spawns.
"""
from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from grader.lab import point_environment_at

# The course's five sample tasks (step 1); the lab cycles through them.
COURSE_TASKS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("resize_image", {"image": "photo1.jpg", "size": "800x600"}),
    ("send_email", {"to": "user@example.com", "subject": "Welcome!"}),
    ("process_order", {"order_id": "ORD-12345", "amount": 99.99}),
    ("resize_image", {"image": "photo2.jpg", "size": "1920x1080"}),
    ("generate_report", {"report_type": "monthly", "month": "2024-01"}),
)
TASK_KEY = "lab_task"  # in each task's data: which of the run's tasks this message carries

CRASH_RANDOM = "random"        # steps 3-4: a delivery crashes with probability crash_rate
CRASH_FIRST_DELIVERY = "first"  # step 5: the first delivery crashes, the redelivery succeeds

_MAX_CONSECUTIVE_ERRORS = 3
_OUTPUT_LINE_LIMIT = 300


class InjectedCrash(RuntimeError):
    """The lab's simulated consumer crash, raised before the acknowledgement."""


def crash_injected(seed: int, task: int, delivery: int, rate: float) -> bool:
    """Whether delivery number ``delivery`` of ``task`` crashes.

    A function of the seed, the task and the delivery only, not of which consumer got it or when:
    the same ``--seed`` crashes the same deliveries on every run, however the broker spreads them.
    """
    if rate <= 0:
        return False
    return random.Random(f"{seed}:{task}:{delivery}").random() < rate


def expected_crashes(seed: int, task: int, rate: float) -> int:
    """How many deliveries of ``task`` crash before one succeeds (what the tally must count)."""
    delivery = 1
    while crash_injected(seed, task, delivery, rate):
        delivery += 1
    return delivery - 1


def make_task_data(number: int) -> tuple[str, dict[str, Any]]:
    """The type and data of the run's task ``number``: a course sample, tagged with its number."""
    task_type, data = COURSE_TASKS[number % len(COURSE_TASKS)]
    return task_type, {**data, TASK_KEY: number}


def task_number(body: str) -> int | None:
    """The run's task number carried by a message body, or None for a message not of this run."""
    try:
        value = json.loads(body)["data"][TASK_KEY]
    except (ValueError, TypeError, KeyError):
        return None
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a lab process needs; picklable, as it crosses into a spawned process."""

    role: str  # "producer" or "consumer"
    index: int
    module_path: str
    endpoint_url: str
    queue_name: str
    parent_pid: int
    tasks: int = 0
    visibility_timeout: int = 30
    work_seconds: float = 0.0
    send_interval: float = 0.0
    wait_time_seconds: int = 5
    crash_mode: str = CRASH_RANDOM
    crash_rate: float = 0.0
    seed: int = 0
    queue_wait_seconds: float = 60.0


class _Reporter:
    """Puts events on the parent's queue, stamped with who sent them and when."""

    def __init__(self, events: Any, config: WorkerConfig) -> None:
        self._events = events
        self._who = {"role": config.role, "index": config.index, "pid": os.getpid()}

    def __call__(self, kind: str, **fields: Any) -> None:
        self._events.put({"kind": kind, "at": time.time(), **self._who, **fields})


class _OutputForwarder:
    """Stands in for stdout/stderr: what the student's code prints goes to the parent line by line,
    so it shows beside the live table instead of tearing through it."""

    def __init__(self, report: _Reporter, stream: str) -> None:
        self._report = report
        self._stream = stream
        self._buffer = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.strip():
                self._report("output", stream=self._stream, line=line.rstrip()[:_OUTPUT_LINE_LIMIT])
        return len(text)

    def flush(self) -> None:
        with self._lock:
            line, self._buffer = self._buffer, ""
        if line.strip():
            self._report("output", stream=self._stream, line=line.rstrip()[:_OUTPUT_LINE_LIMIT])

    def isatty(self) -> bool:
        return False


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0] if text else type(exc).__name__


def _import_file(path: str, names: tuple[str, ...]) -> ModuleType:
    """Import the student's file as its own module name, with its folder on the path (for its own
    helpers), and check it has the contract's functions."""
    file = Path(path)
    sys.path.insert(0, str(file.parent))
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"{file.name} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module
    spec.loader.exec_module(module)
    missing = [name for name in names if not callable(getattr(module, name, None))]
    if missing:
        raise ImportError(f"{file.name} has no {', '.join(n + '()' for n in missing)}")
    return module


class _DeliveryTracker:
    """Reads every receive and delete off the SQS client's hooks.

    It also asks each receive for ``ApproximateReceiveCount``: the student's call may not, and the
    lab must know which delivery of a message a handler is running.
    """

    SYSTEM_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp")

    def __init__(self, sqs: Any, report: _Reporter) -> None:
        self._report = report
        self._by_receipt: dict[str, tuple[str, int | None]] = {}
        self.delivery_of_body: dict[str, tuple[str, int | None, int]] = {}
        events = sqs.meta.events
        events.register("provide-client-params.sqs.ReceiveMessage", self._ask_receive_count)
        events.register("provide-client-params.sqs.DeleteMessage", self._keep_params)
        events.register("provide-client-params.sqs.DeleteMessageBatch", self._keep_params)
        events.register("after-call.sqs.ReceiveMessage", self._received)
        events.register("after-call.sqs.DeleteMessage", self._deleted)
        events.register("after-call.sqs.DeleteMessageBatch", self._deleted_batch)

    def _ask_receive_count(self, params: dict[str, Any], **_: Any) -> None:
        names = list(params.get("MessageSystemAttributeNames") or [])
        if "All" not in names:
            names += [n for n in self.SYSTEM_ATTRIBUTES if n not in names]
        params["MessageSystemAttributeNames"] = names

    def _keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["brokerlab_params"] = dict(params)

    def _received(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        for message in parsed.get("Messages") or []:
            body = message.get("Body", "")
            count_text = (message.get("Attributes") or {}).get("ApproximateReceiveCount")
            receive_count = int(count_text) if count_text and count_text.isdigit() else 0
            task = task_number(body)
            self._by_receipt[message.get("ReceiptHandle", "")] = (message.get("MessageId", ""), task)
            self.delivery_of_body[body] = (message.get("MessageId", ""), task, receive_count)
            self._report("received", message_id=message.get("MessageId"), task=task,
                         receive_count=receive_count)

    def _report_deletion(self, receipt: str) -> None:
        message_id, task = self._by_receipt.pop(receipt, ("", None))
        self._report("deleted", message_id=message_id, task=task)

    def _deleted(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code < 300:
            self._report_deletion(context.get("brokerlab_params", {}).get("ReceiptHandle", ""))

    def _deleted_batch(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any],
                       **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        receipts = {entry.get("Id"): entry.get("ReceiptHandle", "")
                    for entry in context.get("brokerlab_params", {}).get("Entries", [])}
        for entry in parsed.get("Successful") or []:
            self._report_deletion(receipts.get(entry.get("Id"), ""))


def _make_handler(config: WorkerConfig, module: ModuleType, tracker: _DeliveryTracker,
                  report: _Reporter) -> Callable[[str], object]:
    """The course's handler around the student's ``process_task``: decode, work, maybe crash."""

    def handler(message_body: str) -> object:
        message_id, task, delivery = "", None, 0
        if isinstance(message_body, str):  # a consumer may wrongly pass the whole message
            message_id, task, delivery = tracker.delivery_of_body.get(message_body, ("", None, 0))
        try:
            result = module.process_task(message_body)
            if config.work_seconds > 0:
                time.sleep(config.work_seconds)
            if config.crash_mode == CRASH_FIRST_DELIVERY:
                crash = delivery == 1
            else:
                crash = task is not None and crash_injected(config.seed, task, delivery, config.crash_rate)
            if crash:
                raise InjectedCrash("consumer crashed before its ack (injected)")
        except Exception as exc:
            report("failed", message_id=message_id, task=task, receive_count=delivery,
                   injected=isinstance(exc, InjectedCrash), error=_one_line(exc))
            raise
        report("handled", message_id=message_id, task=task, receive_count=delivery)
        return result

    return handler


def _parent_gone(config: WorkerConfig) -> bool:
    return os.getppid() != config.parent_pid


def _run_producer(config: WorkerConfig, sqs: Any, module: ModuleType, report: _Reporter,
                  stop: Any) -> None:
    queue_url = module.create_queue(sqs, config.queue_name, visibility_timeout=config.visibility_timeout)
    report("queue", queue_url=queue_url)
    for number in range(config.tasks):
        if stop.is_set() or _parent_gone(config):
            return
        task_type, data = make_task_data(number)
        message_id = module.send_task(sqs, queue_url, task_type, data)
        report("sent", task=number, message_id=str(message_id), task_type=task_type)
        if config.send_interval > 0 and number + 1 < config.tasks:
            stop.wait(config.send_interval)
    if callable(getattr(module, "queue_status", None)):
        try:
            report("producer_status", status=module.queue_status(sqs, queue_url))
        except Exception as exc:
            report("error", error=f"queue_status() raised {_one_line(exc)}")


def _wait_for_queue(config: WorkerConfig, sqs: Any, stop: Any) -> str | None:
    """The consumer starts beside the producer; like the course's consumer it looks the queue up."""
    deadline = time.monotonic() + config.queue_wait_seconds
    while not stop.is_set() and not _parent_gone(config) and time.monotonic() < deadline:
        try:
            return str(sqs.get_queue_url(QueueName=config.queue_name)["QueueUrl"])
        except sqs.exceptions.QueueDoesNotExist:
            stop.wait(0.2)
    return None


def _run_consumer(config: WorkerConfig, sqs: Any, module: ModuleType, report: _Reporter,
                  stop: Any) -> None:
    tracker = _DeliveryTracker(sqs, report)
    handler = _make_handler(config, module, tracker, report)
    queue_url = _wait_for_queue(config, sqs, stop)
    if queue_url is None:
        if not stop.is_set():
            report("fatal", error=f"queue {config.queue_name} never appeared")
        return
    errors = 0
    # One message per call, as the course's consumer takes them one at a time: the broker then
    # spreads the tasks over the consumers instead of handing the first one a batch of ten.
    # One empty poll ends a call, so ``stop`` is checked at least every long poll; the parent
    # decides when the work is done, because a crashed message comes back only after the
    # visibility timeout, long after the queue first looked empty.
    while not stop.is_set() and not _parent_gone(config):
        try:
            result = module.consume_messages(
                sqs, queue_url, handler=handler, max_messages=1,
                wait_time_seconds=config.wait_time_seconds,
                visibility_timeout=config.visibility_timeout, max_empty_polls=1)
        except Exception as exc:
            errors += 1
            report("error", error=f"consume_messages() raised {_one_line(exc)}")
            if errors >= _MAX_CONSECUTIVE_ERRORS:
                report("fatal", error=f"consume_messages() raised {errors} times in a row: "
                                      f"{_one_line(exc)}")
                return
            stop.wait(1.0)
            continue
        errors = 0
        report("result", result=result if isinstance(result, dict) else {"returned": repr(result)[:100]})


def run(config: WorkerConfig, events: Any, stop: Any) -> None:
    """Entry point of a spawned lab process: never raises, reports ``exit`` last."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    report = _Reporter(events, config)
    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout = _OutputForwarder(report, "stdout")  # type: ignore[assignment]
    sys.stderr = _OutputForwarder(report, "stderr")  # type: ignore[assignment]
    try:
        point_environment_at(config.endpoint_url)
        import boto3

        names = ("create_queue", "send_task") if config.role == "producer" else (
            "process_task", "consume_messages")
        try:
            module = _import_file(config.module_path, names)
        except BaseException as exc:  # SystemExit at import too: the file is unusable either way
            report("fatal", error=f"{Path(config.module_path).name} cannot be imported: {_one_line(exc)}",
                   import_error=True)
            return
        sqs = boto3.client("sqs")
        report("started")
        if config.role == "producer":
            _run_producer(config, sqs, module, report, stop)
        else:
            _run_consumer(config, sqs, module, report, stop)
    except BaseException as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
        report("fatal", error=f"{_one_line(exc)}{where}")
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        sys.stdout, sys.stderr = real_stdout, real_stderr
        report("exit")
