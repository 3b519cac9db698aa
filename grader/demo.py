"""``brokerlab demo``: grade the bundled example submissions and print their reports.

The Quick start's first command ends here: it shows what a student and an instructor get back.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.errors import UserError
from grader.grade import Grader
from grader.paths import EXAMPLES
from grader.render.text import to_text

HELP = "grade the bundled example submissions and print their reports"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--examples", type=Path, default=EXAMPLES, help="folder of example submissions")


def run(args: argparse.Namespace) -> int:
    folders = sorted(p for p in args.examples.iterdir() if p.is_dir()) if args.examples.is_dir() else []
    if not folders:
        raise UserError(f"{args.examples}: no example submissions found")
    summary = []
    with Grader(sandbox="auto") as grader:
        for folder in folders:
            result = grader.grade(folder)
            sys.stdout.write(to_text(result, title=f"Example submission: {folder.name}") + "\n")
            summary.append(f"  {folder.name:<20} {result.score:g}/{result.max_score:g}")
    print("Summary\n" + "\n".join(summary))
    return 0
