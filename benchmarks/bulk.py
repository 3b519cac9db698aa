"""Benchmark: grade a synthetic class of N submissions with ``brokerlab grade-all``.

    .venv/bin/python benchmarks/bulk.py            # 300 submissions, grade-all's default jobs
    .venv/bin/python benchmarks/bulk.py -n 40 -j 2 --keep

The class is built under a temporary folder from the reference solutions, the stubs, the example
submissions and a few wrong variants written here (small edits of the solutions), about one in
fifty of them broken (an empty folder, a corrupt zip); a third of them are zipped. The run goes
through the command itself, in this process, so the figures include finding the students,
fingerprinting them, the pool, and writing every output. It prints the wall time, the seconds
per submission, and the peak resident memory of a grading worker (``ru_maxrss`` of the reaped
children; most of it is shared copy-on-write with the warm parent), and checks that every copy of
one variant got the same total (grading must not depend on what ran beside it).

The target on a 2-core machine, every protection on: at most 0.25 s per submission (75 s for 300).
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import sys
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.bulk.pool import default_jobs  # noqa: E402
from grader.paths import EXAMPLES, EXERCISE_FILES, EXERCISES, SOLUTIONS  # noqa: E402

FILES = tuple(EXERCISE_FILES.values())
SQS_FILES = tuple(f for e, f in EXERCISE_FILES.items() if not e.startswith("amqp_"))
ANSWERS = "checkpoint:\n  q1: C\n  q2: C\ndiscussion:\n  q1: [A, D]\n"

# (variant, file, old text, new text): each a small, classic mistake on top of the solution
PATCHES = {
    "naive-timestamp": ("sqs_producer.py", 'timestamp = now.replace(tzinfo=None).isoformat() + "Z"',
                        'timestamp = now.isoformat() + "Z"'),
    "ack-before-handler": ("sqs_consumer.py", '                handler(message["Body"])\n',
                           '                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])\n'
                           '                handler(message["Body"])\n'),
    "no-idempotency-key": ("payment_handler.py", "idempotency_key=transaction_id", "idempotency_key=None"),
}
SYNTAX_ERROR = "def create_queue(sqs, name:\n    return name\n"
EXITS_AT_IMPORT = "import sys\nsys.exit('no')\n"


def _read(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FILES if (folder / name).is_file()}


def variants() -> dict[str, dict[str, bytes]]:
    """name -> files of one submission (an empty dict: an empty folder)."""
    solution = _read(SOLUTIONS)
    if len(solution) != len(FILES):
        raise SystemExit(f"{SOLUTIONS}: the reference solutions are not all there yet")
    out: dict[str, dict[str, bytes]] = {"solution": {**solution, "answers.yaml": ANSWERS.encode()}}
    stub = _read(EXERCISES)
    if stub:
        out["stub"] = stub
    for name in ("complete", "half-done", "classic-mistakes"):
        folder = EXAMPLES / name
        if folder.is_dir():
            files = _read(folder)
            if (folder / "answers.yaml").is_file():
                files["answers.yaml"] = (folder / "answers.yaml").read_bytes()
            out[f"example-{name}"] = files
    for name, (file, old, new) in PATCHES.items():
        text = solution[file].decode()
        if old in text:
            out[name] = {**solution, file: text.replace(old, new).encode()}
        else:
            print(f"note: variant {name} skipped ({file} changed)", file=sys.stderr)
    out["broken-imports"] = {"sqs_producer.py": SYNTAX_ERROR.encode(), "sqs_consumer.py": EXITS_AT_IMPORT.encode(),
                             "payment_handler.py": solution["payment_handler.py"]}
    return out


def build_class(folder: Path, n: int) -> dict[str, str]:
    """Write N submissions into ``folder``; student id -> variant."""
    full = variants()
    names = sorted(full)
    plan: dict[str, str] = {}
    for i in range(n):
        student = f"s{i:04d}"
        if i % 50 == 49:
            variant = "empty" if (i // 50) % 2 == 0 else "corrupt-zip"
        else:
            variant = names[i % len(names)]
        plan[student] = variant
        if variant == "empty":
            (folder / student).mkdir()
        elif variant == "corrupt-zip":
            (folder / f"{student}.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
        elif i % 3 == 0:
            with zipfile.ZipFile(folder / f"{student}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in full[variant].items():
                    zf.writestr(f"{student}/{name}", data)
        else:
            (folder / student).mkdir()
            for name, data in full[variant].items():
                (folder / student / name).write_bytes(data)
    return plan


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine so far, from /proc/stat (Linux only)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / tick, idle / tick


class OwnCpu:
    """This run's CPU exactly, every process it starts (boxes included: they join the memory,
    pids and cpu controllers, never cpuacct), from a cpuacct cgroup of its own; None where the
    host has none or we are not root."""

    ROOT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self) -> None:
        self.folder: Path | None = None
        if os.geteuid() == 0 and (self.ROOT / "cgroup.procs").exists():
            try:
                self.folder = self.ROOT / f"brokerlab-bench-{os.getpid()}"
                self.folder.mkdir()
                (self.folder / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:
                self.folder = None

    def seconds(self) -> float | None:
        return int((self.folder / "cpuacct.usage").read_text()) / 1e9 if self.folder else None

    def close(self) -> None:
        """Leave the cgroup and remove it once the run's last helpers (a box's keeper waits for its
        box's cgroups to empty) are gone; say so if it outlives them."""
        if self.folder is not None:
            (self.ROOT / "cgroup.procs").write_text(str(os.getpid()))
            deadline = time.monotonic() + 30
            while True:
                try:
                    self.folder.rmdir()
                    return
                except OSError as exc:
                    if time.monotonic() > deadline:
                        print(f"note: could not remove {self.folder} ({exc.strerror})", file=sys.stderr)
                        return
                    time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="submissions (default 300)")
    parser.add_argument("-j", "--jobs", type=int, help="parallel gradings (default: grade-all's, one more than the cores)")
    parser.add_argument("--baseline", type=float, default=5.0, metavar="SECONDS",
                        help="first measure how busy the machine is without us, this long (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the class and the outputs, and say where")
    parser.add_argument("--track", choices=("all", "sqs"), default="all",
                        help="sqs: the SQS track's files only (the class as the trust boundary's target was set on)")
    parser.add_argument("--sandbox", choices=("full", "weak"), default="full",
                        help="weak: no isolation, to measure what the protections cost (default full)")
    args = parser.parse_args()
    if args.track == "sqs":
        global FILES
        FILES = SQS_FILES

    from grader.cli import main as brokerlab

    work = Path(tempfile.mkdtemp(prefix="brokerlab-bench-"))
    try:
        source, out = work / "class", work / "out"
        source.mkdir()
        plan = build_class(source, args.n)
        base0, base_started = machine_cpu(), time.monotonic()
        time.sleep(args.baseline)  # what the machine does without us: other users' work
        others = (machine_cpu()[0] - base0[0]) / max(1e-9, time.monotonic() - base_started)
        argv = ["grade-all", str(source), "--out", str(out), "--quiet", "--sandbox", args.sandbox]
        if args.jobs:
            argv += ["--jobs", str(args.jobs)]
        own = OwnCpu()
        started = time.monotonic()
        cpu0, busy0, own0 = os.times(), machine_cpu(), own.seconds()
        code = brokerlab(argv)
        elapsed = time.monotonic() - started
        cpu1, busy1, own1 = os.times(), machine_cpu(), own.seconds()
        own.close()
        if code != 0:
            print(f"grade-all exited with {code}", file=sys.stderr)
            return code
        with open(out / "grades.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        totals: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            totals[plan[row["student_id"]]].add(row["total"])
        statuses = Counter(row["status"] for row in rows)
        peak_child_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        peak_self_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        children_cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)

        print(f"submissions        {args.n} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})")
        print(f"jobs               {args.jobs or default_jobs(rabbitmq=args.track == 'all')} on {os.cpu_count()} cores")
        print(f"wall time          {elapsed:.1f} s")
        print(f"per submission     {elapsed / args.n:.3f} s  (target 0.250 s)")
        parent_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        print(f"graders' CPU       {children_cpu / args.n:.3f} s per submission (not counting the sandboxed workers)")
        print(f"parent's CPU       {parent_cpu / args.n:.3f} s per submission (intake, pool, every output)")
        busy, idle = busy1[0] - busy0[0], busy1[1] - busy0[1]
        print(f"machine CPU        {busy / args.n:.3f} s per submission, all processes "
              f"(idle {idle:.0f} s; other users' work counts too)")
        ours = max(0.0, busy - others * elapsed)
        cores = os.cpu_count() or 1
        print(f"others' load       {others:.2f} cores busy before the run (sampled {args.baseline:g} s)")
        if own0 is not None and own1 is not None:
            ours = own1 - own0
            print(f"this run's CPU     {ours / args.n:.3f} s per submission (cpuacct: every process of the run, "
                  f"boxes included), so about {ours / cores / args.n:.3f} s per submission on {cores} idle cores")
        else:
            print(f"this run's CPU     about {ours / args.n:.3f} s per submission (machine CPU less others' load), "
                  f"so about {ours / cores:.0f} s for these {args.n} on {cores} idle cores")
        print(f"peak RSS / worker  {peak_child_mib:.0f} MiB (ru_maxrss, mostly shared with the parent)")
        print(f"peak RSS parent    {peak_self_mib:.0f} MiB")
        print(f"300 would take     {elapsed / args.n * 300:.0f} s (target 75 s)")
        uneven = {v: sorted(t) for v, t in totals.items() if len(t) > 1}
        for variant in sorted(totals):
            print(f"  {variant:22s} total {'/'.join(sorted(totals[variant]))}")
        if uneven:
            print(f"NOT DETERMINISTIC: copies of one variant got different totals: {uneven}", file=sys.stderr)
            return 1
        if args.keep:
            print(f"kept: {work}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
