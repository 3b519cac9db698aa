"""The ``lab`` verb: the course's hands-on (steps 3 to 5, and its cleanup) in one command.

By default it runs the reference solutions (``--path`` runs a student's folder instead) on an
embedded broker: one producer process, N consumer processes, crashes injected before the ack,
and a live view of what the broker does. It exits 0 only when every task was handled and
acknowledged: at least once, and exactly once when no crash was injected.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from grader.errors import UserError
from grader.lab import COURSE_QUEUE, QUEUE_PREFIX
from grader.lab.server import answers, is_loopback
from grader.lab.session import LabSession, LabSettings, sqs_client
from grader.lab.view import make_view
from grader.paths import EXERCISE_FILES, SOLUTIONS

HELP = "run the hands-on lab: producer and consumers on a live broker"

# Per step: (consumers, tasks). No step is the whole of steps 3 and 4 with crashes injected.
_STEP_DEFAULTS: dict[int | None, tuple[int, int]] = {None: (3, 20), 3: (1, 5), 4: (3, 20), 5: (1, 1)}
_MAX_CONSUMERS = 16
_MAX_TASKS = 1000
_LAB_FILES = (EXERCISE_FILES["producer"], EXERCISE_FILES["consumer"])


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the course's hands-on on a real broker: a producer process and consumer processes, "
        "live counts, redeliveries. Exits 0 when every task was handled and acknowledged.")
    parser.add_argument("--step", type=int, choices=(3, 4, 5),
                        help="one step of the course: 3 (one consumer), 4 (several), 5 (a consumer "
                             "crashes before its ack and the message comes back); default: 3 and 4 "
                             "with crashes injected")
    parser.add_argument("--consumers", type=int, help="consumer processes (default 3; 1 for steps 3 and 5)")
    parser.add_argument("--tasks", type=int, help="tasks the producer sends (default 20; 5 for step 3, 1 for step 5)")
    parser.add_argument("--crash-rate", type=float,
                        help="chance that a delivery crashes before its ack (default 0.1; 0 for steps 3 "
                             "and 4, which then must handle every task exactly once)")
    parser.add_argument("--seed", type=int, default=7, help="which deliveries crash (default 7: reproducible)")
    parser.add_argument("--path", type=Path, default=None,
                        help="folder with sqs_producer.py and sqs_consumer.py (default: the reference solutions)")
    parser.add_argument("--visibility-timeout", type=int, default=30,
                        help="seconds a received message stays invisible before it is redelivered (default 30, "
                             "as in the course; try 5 for a quicker run)")
    parser.add_argument("--work-seconds", type=float, default=2.0,
                        help="simulated work per task, as the course's handler sleeps (default 2)")
    parser.add_argument("--send-interval", type=float, default=0.5,
                        help="pause between the producer's sends (default 0.5, as in the course)")
    parser.add_argument("--wait-time", type=int, default=5,
                        help="long-poll WaitTimeSeconds of each receive (default 5, as in the course)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="give up after this many seconds (default: generous for the settings)")
    parser.add_argument("--endpoint", metavar="URL",
                        help="use a running `brokerlab serve` (e.g. http://127.0.0.1:4566) instead of "
                             "the embedded broker")
    parser.add_argument("--broker", choices=("sqs", "rabbitmq"), default="sqs",
                        help="sqs (default: an embedded SQS broker) or rabbitmq (the AMQP track's "
                             "amqp_producer.py and amqp_consumer.py on a private RabbitMQ node, or on "
                             "BROKERLAB_AMQP_URL's broker)")
    parser.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    parser.add_argument("--cleanup", action="store_true",
                        help="the course's cleanup step: delete the lab's queues and task-queue on the "
                             "broker of --endpoint or AWS_ENDPOINT_URL")


def run(args: argparse.Namespace) -> int:
    if args.cleanup:
        if args.endpoint:
            return cleanup(args.endpoint, "--endpoint")
        return cleanup(os.environ.get("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL")
    if args.broker == "rabbitmq":
        from grader.lab import amqp_lab

        return amqp_lab.run(args, (args.path or SOLUTIONS).expanduser().resolve())
    settings = _settings(args)

    view = make_view(plain=args.plain)
    view.start(_title(settings), _details(settings, args.path is None))

    def started(endpoint: str, queue_name: str) -> None:
        where = "embedded broker" if settings.endpoint is None else "broker"
        view.line(f"{where} at {endpoint}; queue {queue_name}")

    try:
        outcome = LabSession(settings).run(view, on_start=started)
    finally:
        view.stop()
    tally = outcome.tally
    if tally.import_error:
        raise UserError(f"{settings.path}: {tally.import_error}")
    verdict = tally.verdict()
    view.summary(tally, verdict, outcome.seconds)
    if settings.endpoint:
        print(f"the queue {outcome.queue_name} stays on {settings.endpoint}: "
              f"`brokerlab lab --cleanup --endpoint {settings.endpoint}` deletes the lab's queues")
    return 0 if verdict.ok else 1


def _settings(args: argparse.Namespace) -> LabSettings:
    consumers, tasks = _STEP_DEFAULTS[args.step]
    consumers = args.consumers if args.consumers is not None else consumers
    tasks = args.tasks if args.tasks is not None else tasks
    if args.step == 5:
        if args.crash_rate is not None:
            raise UserError("--crash-rate does not apply to --step 5: its consumer crashes on the first "
                            "delivery of each task")
        crash_rate = 0.0
    elif args.crash_rate is not None:
        crash_rate = args.crash_rate
    else:
        crash_rate = 0.1 if args.step is None else 0.0
    if not 1 <= consumers <= _MAX_CONSUMERS:
        raise UserError(f"--consumers must be between 1 and {_MAX_CONSUMERS}, not {consumers}")
    if not 1 <= tasks <= _MAX_TASKS:
        raise UserError(f"--tasks must be between 1 and {_MAX_TASKS}, not {tasks}")
    if not 0 <= crash_rate < 1:
        raise UserError(f"--crash-rate must be at least 0 and below 1, not {crash_rate} "
                        "(at 1 no task could ever be acknowledged)")
    if not 1 <= args.visibility_timeout <= 43200:
        raise UserError(f"--visibility-timeout must be between 1 and 43200 seconds, not {args.visibility_timeout}")
    if args.work_seconds < 0 or args.send_interval < 0:
        raise UserError("--work-seconds and --send-interval cannot be negative")
    if args.work_seconds >= args.visibility_timeout:
        raise UserError(f"--visibility-timeout ({args.visibility_timeout} s) must be longer than --work-seconds "
                        f"({args.work_seconds:g} s), or messages come back while still being processed")
    if not 0 <= args.wait_time <= 20:
        raise UserError(f"--wait-time must be between 0 and 20 seconds (SQS's limit), not {args.wait_time}")
    endpoint = _loopback_endpoint(args.endpoint, "--endpoint") if args.endpoint else None
    path = _lab_folder(args.path)
    timeout = args.timeout if args.timeout is not None else _default_timeout(
        consumers, tasks, crash_rate, args.visibility_timeout, args.work_seconds, args.send_interval,
        args.wait_time)
    if timeout <= 0:
        raise UserError(f"--timeout must be positive, not {timeout:g}")
    return LabSettings(path=path, consumers=consumers, tasks=tasks, crash_rate=crash_rate, seed=args.seed,
                       visibility_timeout=args.visibility_timeout, work_seconds=args.work_seconds,
                       send_interval=args.send_interval, wait_time_seconds=args.wait_time, step=args.step,
                       timeout=timeout, endpoint=endpoint)


def _default_timeout(consumers: int, tasks: int, crash_rate: float, visibility_timeout: int,
                     work_seconds: float, send_interval: float, wait_time: int) -> float:
    """Room for the work, the sends and several rounds of redelivery, and then some."""
    work = tasks * (work_seconds + 0.2) / consumers + tasks * send_interval
    return 60.0 + 2 * work + 6 * (visibility_timeout + wait_time + work_seconds)


def _lab_folder(path: Path | None) -> Path:
    folder = (path or SOLUTIONS).expanduser()
    if not folder.exists():
        raise UserError(f"{folder}: no such folder")
    if not folder.is_dir():
        hint = " (unzip it first)" if folder.suffix.lower() == ".zip" else ""
        raise UserError(f"{folder}: not a folder{hint}")
    missing = [name for name in _LAB_FILES if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder}: no {' and no '.join(missing)} (the lab runs both exercises)")
    for name in _LAB_FILES:
        file = folder / name
        try:
            compile(file.read_bytes(), str(file), "exec")
        except SyntaxError as exc:
            raise UserError(f"{file}: line {exc.lineno}: {exc.msg}") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"{file}: cannot be read: {exc}") from None
    return folder.resolve()


def _loopback_endpoint(url: str, source: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{source} must be a URL like http://127.0.0.1:4566, not {url!r}")
    if not is_loopback(parts.hostname):
        raise UserError(f"{source} must point at this machine (127.0.0.1, localhost or ::1), not "
                        f"{parts.hostname}: the lab never talks to AWS or another machine")
    return f"{parts.scheme}://{parts.netloc}"


def _title(settings: LabSettings) -> str:
    step = {None: "steps 3-4", 3: "step 3", 4: "step 4", 5: "step 5 (visibility timeout)"}[settings.step]
    consumers = f"{settings.consumers} consumer{'s' if settings.consumers != 1 else ''}"
    return f"Broker Lab, {step}: 1 producer, {consumers}, {settings.tasks} task{'s' if settings.tasks != 1 else ''}"


def _details(settings: LabSettings, reference: bool) -> str:
    crashes = ("the first delivery of each task crashes before its ack" if settings.step == 5
               else f"crash rate {settings.crash_rate:.0%} (seed {settings.seed})" if settings.crash_rate
               else "no crashes: every task must be handled exactly once")
    source = "reference solutions" if reference else str(settings.path)
    return (f"{source}; {crashes}; visibility timeout {settings.visibility_timeout} s; "
            f"{settings.work_seconds:g} s of work per task")


def cleanup(endpoint: str | None, source: str = "--endpoint") -> int:
    """The course's cleanup step: delete ``task-queue`` and every queue the lab made."""
    if not endpoint:
        raise UserError("nothing to clean up: the embedded broker's queues vanish when `brokerlab lab` ends; "
                        "to clean a `brokerlab serve` broker, pass --endpoint URL or export AWS_ENDPOINT_URL "
                        "as it prints")
    endpoint = _loopback_endpoint(endpoint, source)
    if not answers(endpoint):
        raise UserError(f"no broker answers at {endpoint} (is `brokerlab serve` running?)")
    from botocore.exceptions import BotoCoreError, ClientError

    sqs = sqs_client(endpoint)
    try:
        urls = _lab_queue_urls(sqs)
        for url in urls:
            try:
                sqs.delete_queue(QueueUrl=url)
            except sqs.exceptions.QueueDoesNotExist:
                continue
            print(f"deleted {url.rsplit('/', 1)[-1]}")
    except (BotoCoreError, ClientError) as exc:
        raise UserError(f"cleanup on {endpoint} failed: {exc}") from None
    print(f"deleted {len(urls)} queue{'s' if len(urls) != 1 else ''} on {endpoint}" if urls
          else f"no lab queues on {endpoint}: nothing to delete")
    return 0


def _lab_queue_urls(sqs: Any) -> list[str]:
    urls: list[str] = []
    kwargs: dict[str, object] = {"QueueNamePrefix": QUEUE_PREFIX, "MaxResults": 1000}
    while True:
        page = sqs.list_queues(**kwargs)
        urls += page.get("QueueUrls", [])
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    try:
        urls.append(sqs.get_queue_url(QueueName=COURSE_QUEUE)["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist:
        pass
    return urls

