"""``brokerlab doctor``: which of the sandbox's protections are active on this host, and why not."""
from __future__ import annotations

import argparse

from grader.sandbox import isolation, selfcheck

HELP = "show which sandbox protections work on this host"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sandbox", choices=selfcheck.MODES, default=None,
                        help="the mode to check (default: full, as grade and grade-all use)")


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
    print("all protections active" if proof.ok and box["isolate"] else
          "weak mode: student code is not isolated" if proof.ok else
          f"grading would refuse: {proof.first_failure().name} failed")  # type: ignore[union-attr]
    return 0 if proof.ok else 1
