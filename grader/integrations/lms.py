"""``brokerlab lms push canvas OUTDIR``: a graded class's scores and comments straight into the LMS.

Only Canvas for now (``grader.integrations.canvas``); the LMS is a word of its own so that others
can join it without a new verb.
"""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "push a graded class's scores and feedback comments to an LMS (Canvas)"
TARGETS = ("canvas",)


def configure(parser: argparse.ArgumentParser) -> None:
    from grader.integrations.canvas import ID_FIELDS

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    push = sub.add_parser("push", help="send every student's score and a feedback comment",
                          description="Send each student's score and a short feedback comment from OUTDIR/"
                                      "results.jsonl to a Canvas assignment, in one bulk update, and follow it "
                                      "until Canvas has applied it. Exits 0 only when every student was updated.")
    push.add_argument("target", choices=TARGETS, metavar="LMS", help="the LMS: canvas")
    push.add_argument("outdir", type=Path, metavar="OUTDIR", help="a grade-all output folder (its results.jsonl)")
    push.add_argument("--url", required=True, help="the Canvas address, e.g. https://canvas.example.edu")
    push.add_argument("--course", required=True, metavar="ID", help="the Canvas course id")
    push.add_argument("--assignment", required=True, metavar="ID", help="the Canvas assignment id")
    push.add_argument("--token-env", default="CANVAS_API_TOKEN", metavar="VAR",
                      help="the environment variable holding the Canvas access token (default: CANVAS_API_TOKEN)")
    push.add_argument("--dry-run", action="store_true",
                      help="print what would be sent (user id, grade, the comment's first line); send nothing")
    push.add_argument("--id-map", type=Path, metavar="CSV",
                      help="a CSV 'student_id,canvas_user_id' (a Canvas user id, or sis_user_id:..., "
                           "sis_login_id:...); students not in it are not sent")
    push.add_argument("--id-field", choices=ID_FIELDS, default="sis_user_id",
                      help="without --id-map: what the student ids are in Canvas (default: sis_user_id)")
    push.add_argument("--student", action="extend", nargs="+", metavar="ID", default=[],
                      help="push just these students")
    push.add_argument("--manual-scores", type=Path, metavar="FILE",
                      help="the YAML of points a person gave, as for grade-all (applied before sending)")
    push.add_argument("--title", default="Broker Lab", help="how the comment names the assignment")
    push.add_argument("--wait", type=float, default=300.0, metavar="SECONDS",
                      help="how long to follow Canvas's progress before giving up (default: 300)")


def run(args: argparse.Namespace) -> int:
    from grader.integrations import canvas

    return canvas.push(args)
