"""``brokerlab doctor``: which of the sandbox's protections are active on this host, and why not;
and which RabbitMQ the AMQP track would grade against (``--broker`` starts it, to prove it)."""
from __future__ import annotations

import argparse

from grader.sandbox import isolation, selfcheck

HELP = "show which sandbox protections work on this host"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox", choices=selfcheck.MODES, default=None,
                        help="the mode to check (default: full, as grade and grade-all use)")
    parser.add_argument("--broker", action="store_true",
                        help="also start the AMQP track's RabbitMQ (as a grading run would) and say how long it took")


def rabbitmq_line(start: bool = False) -> tuple[bool, str]:
    """What the AMQP track's tests would run against here, and whether it is there (or started)."""
    from grader.amqp import install, node
    from grader.errors import UserError

    try:
        external = node.from_environment()
    except UserError as exc:
        return False, f"rabbitmq: [FAILED] {exc}"
    if external is not None:
        return True, f"rabbitmq: the broker at BROKERLAB_AMQP_URL ({external.host}:{external.amqp_port})"
    server = node.find_server()
    if server is None:
        return False, f"rabbitmq: [FAILED] rabbitmq-server is not installed: {install.advice()}"
    if not start:
        return True, f"rabbitmq: {server} (each run starts a private node on loopback; --broker to try it)"
    try:
        with node.Node() as started:
            return True, f"rabbitmq: [ok] a private node of {server} started in {started.started_in:.1f} s"
    except Exception as exc:  # noqa: BLE001 - said, in one line
        return False, f"rabbitmq: [FAILED] {server} did not start: {str(exc)[:300]}"


def run(args: argparse.Namespace) -> int:
    from grader.sandbox.client import Zygote

    try:
        box = selfcheck.settings(args.sandbox)
    except selfcheck.SandboxUnavailable as exc:
        print(f"sandbox: unavailable: {exc}")
        return 1
    zygote = Zygote()
    try:
        proof = selfcheck.prove(zygote, box)
    finally:
        zygote.close()
    print(f"sandbox mode: {proof.mode}")
    for step in proof.steps:
        print(f"  [{'ok' if step.ok else 'FAILED'}] {step.name}: {step.detail}")
    if box["isolate"]:
        limits = isolation.DEFAULT_LIMITS
        print(f"  limits per box: {limits['box_memory_bytes'] >> 20} MiB of memory, {limits['box_processes']} "
              f"processes, {limits['box_cpus']} CPU; per process: {limits['cpu_seconds']} s of CPU, "
              f"{limits['open_files']} open files, {limits['file_bytes'] >> 20} MiB per file")
    broker_ok, line = rabbitmq_line(args.broker)
    print(line)
    print("all protections active" if proof.ok and box["isolate"] else
          "weak mode: student code is not isolated" if proof.ok else
          f"grading would refuse: {proof.first_failure().name} failed")  # type: ignore[union-attr]
    return 0 if proof.ok and (broker_ok or not args.broker) else 1
