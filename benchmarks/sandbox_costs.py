"""Benchmark: what each protection of the sandbox costs, per box and per submission.

    .venv/bin/python benchmarks/sandbox_costs.py            # 30 rounds each (root for the full box)

Each figure is the median (and the minimum, which a loaded machine disturbs least) of N rounds:

- the self-check's trial box, paid once per grading process (``grade``) or class run (``grade-all``);
- a box started, its file imported and closed, in full mode and in weak mode (the difference is the
  namespaces, the new root, cgroups and uid together);
- the cgroups alone (made, joined by a process, removed) and one exercise's scratch tmpfs (mounted
  and unmounted), the two parts that are new in this design;
- a test's fresh copy (forked from the box) and one call through it.

A submission pays three boxes (one per exercise) and one copy per crash or timeout.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.harness.clock import VirtualClock  # noqa: E402
from grader.sandbox import isolation, selfcheck  # noqa: E402
from grader.sandbox.client import Limits, Sandbox, StudentProcess, Zygote  # noqa: E402
from grader.sandbox.scratch import ScratchSpace  # noqa: E402

SOURCE = b"import json\n\ndef ping(x):\n    return x\n"


def timed(fn, rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=30)
    args = parser.parse_args()
    zygote = Zygote()
    clock = VirtualClock()
    clock.__enter__()
    host = selfcheck.ProbeHost(clock)
    rows: list[tuple[str, tuple[float, float]]] = []
    modes = ["weak"] + (["full"] if os.geteuid() == 0 else [])
    for mode in modes:
        box = selfcheck.settings(mode)
        space = ScratchSpace(box["isolate"])

        def start_close() -> None:
            sandbox = Sandbox(zygote, "bench", SOURCE, space, "bench", Limits(), box)
            sandbox.start(host)
            sandbox.close()

        rows.append((f"box start + import + close ({mode})", timed(start_close, args.rounds)))
        sandbox = Sandbox(zygote, "bench", SOURCE, space, "bench", Limits(), box)
        sandbox.start(host)
        folder = space.test_folder("bench", "copy")
        sandbox.hand_over(folder)

        def copy_and_call() -> None:
            student = StudentProcess(sandbox, folder, host)
            student.call("ping", 1)
            student.kill()

        rows.append((f"a test's copy + one call ({mode})", timed(copy_and_call, args.rounds)))
        student = StudentProcess(sandbox, folder, host)
        rows.append((f"one call ({mode})", timed(lambda: student.call("ping", 1), args.rounds)))
        student.kill()
        sandbox.close()
        space.close()
    if os.geteuid() == 0:
        box = selfcheck.settings("full")
        rows.append(("self-check trial (once per run)", timed(lambda: selfcheck.prove(zygote, box), 5)))

        def cgroups() -> None:
            made = isolation.make_cgroups(f"box-{os.getpid()}-bench", isolation.DEFAULT_LIMITS)
            isolation.remove_cgroups(made)

        rows.append(("cgroups made + removed", timed(cgroups, args.rounds)))

        def tmpfs() -> None:
            space = ScratchSpace(True)
            space.exercise("x")
            space.close()

        rows.append(("scratch tmpfs mounted + unmounted", timed(tmpfs, args.rounds)))
    clock.__exit__(None, None, None)
    zygote.close()
    print(f"{'what':44s} {'median':>9s} {'min':>9s}")
    for name, (median, low) in rows:
        print(f"{name:44s} {median * 1000:7.1f}ms {low * 1000:7.1f}ms")


if __name__ == "__main__":
    main()
