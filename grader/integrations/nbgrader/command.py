"""``brokerlab nbgrader``: make an nbgrader course from the exercises, and read its submissions back.

    brokerlab nbgrader init COURSE_DIR [--assignment NAME]   # nbgrader_config.py + source/NAME/*.ipynb
    brokerlab nbgrader extract COURSE_DIR OUT [--assignment NAME]  # each student's files for brokerlab grade
    brokerlab nbgrader autograde COURSE_DIR [--assignment NAME] [--student ID]  # the sandbox into the gradebook

From then on nbgrader's own commands run the course (generate_assignment, collect, export,
formgrader, generate_feedback), except ``nbgrader autograde``: it computes the verdicts inside the
student's kernel, which the student's cells can patch, so ``brokerlab nbgrader autograde`` takes
its place (``autograde``). ``brokerlab grade-all`` grades the same ``submitted/`` tree too.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from grader.errors import UserError

HELP = "make an nbgrader course from the exercises"
DEFAULT_ASSIGNMENT = "module5"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = sub.add_parser("init", help="write nbgrader_config.py and source/ASSIGNMENT/ with one notebook "
                                       "per exercise and one for the quizzes")
    init.add_argument("course", type=Path, metavar="COURSE_DIR", help="the course folder (created if missing)")
    init.add_argument("--assignment", default=DEFAULT_ASSIGNMENT,
                      help=f"the assignment's name (default: {DEFAULT_ASSIGNMENT})")
    init.add_argument("--course-id", help="nbgrader's course id (default: the folder's name)")
    init.add_argument("--force", action="store_true", help="overwrite the config and notebooks if they exist")
    extract = sub.add_parser("extract", help="write each student's code and answers.yaml from their notebooks, "
                                             "for brokerlab grade")
    extract.add_argument("source", type=Path, metavar="COURSE_DIR",
                         help="an nbgrader course, or its submitted/ (or autograded/) folder")
    extract.add_argument("out", type=Path, metavar="OUT", help="folder to write OUT/<student>/ into")
    extract.add_argument("--assignment", help="the assignment, when the course has several")
    grade = sub.add_parser("autograde", help="grade submitted/ in brokerlab's sandbox into nbgrader's gradebook and "
                                             "autograded/ (in place of nbgrader autograde, which trusts the student)")
    grade.add_argument("course", type=Path, metavar="COURSE_DIR", help="the nbgrader course (its nbgrader_config.py)")
    grade.add_argument("--assignment", help="the assignment to grade (default: the gradebook's only one)")
    grade.add_argument("--student", default="*", help="only this student (nbgrader's patterns work: 'a*')")
    grade.add_argument("--force", action="store_true", help="grade again the students already in autograded/")


def run(args: argparse.Namespace) -> int:
    if args.action == "autograde":
        from grader.integrations.nbgrader import autograde

        return autograde.run(args)
    return _init(args) if args.action == "init" else _extract(args)


def _init(args: argparse.Namespace) -> int:
    import nbformat

    from grader.integrations.nbgrader.config import config_text
    from grader.integrations.nbgrader.notebooks import BuildError, build_notebooks
    from grader.paths import EXERCISES

    course: Path = args.course
    course_id = args.course_id or re.sub(r"[^A-Za-z0-9_.-]", "-", course.resolve().name) or "brokerlab"
    for what, value in (("assignment", args.assignment), ("course id", course_id)):
        if not NAME.match(value):
            raise UserError(f"{what} {value!r}: use letters, digits, '_', '-' and '.' only")
    if course.exists() and not course.is_dir():
        raise UserError(f"{course}: exists and is not a folder")
    config = course / "nbgrader_config.py"
    folder = course / "source" / args.assignment
    try:
        notebooks = build_notebooks()
    except BuildError as exc:
        raise UserError(f"cannot build the notebooks: {exc}") from None
    except FileNotFoundError as exc:
        raise UserError(f"the course material is not installed ({exc.filename} is missing): install brokerlab "
                        "from its source folder, pip install -e '.[nbgrader]'") from None
    existing = [p for p in [config, *(folder / n for n in notebooks)] if p.exists()]
    if existing and not args.force:
        raise UserError(f"{existing[0]} already exists; pass --force to overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(config_text(course_id), encoding="utf-8")
    for name, notebook in notebooks.items():
        nbformat.write(notebook, folder / name)
    shutil.copyfile(EXERCISES / "fakes.py", folder / "fakes.py")
    print(f"Wrote {config} and {len(notebooks)} notebooks in {folder}.")
    problem = kernel_problem()
    if problem:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"Next, in {course}: nbgrader generate_assignment {args.assignment}, then release, collect, "
          f"brokerlab nbgrader autograde {course} --assignment {args.assignment}, nbgrader export.")
    return 0


def kernel_problem() -> str | None:
    """Why the ``python3`` kernel nbgrader will start cannot run the test cells, or None if it can."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return "jupyter_client is not installed: pip install 'brokerlab[nbgrader]'"
    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return f"there is no python3 kernel: run {sys.executable} -m ipykernel install --sys-prefix"
    python = spec.argv[0] if spec.argv else ""
    # jupyter_client runs a kernel named plain "python" with its own interpreter.
    if python in {"python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]}:
        python = sys.executable
    try:
        done = subprocess.run([python, "-c", "import grader.integrations.nbgrader.runtime"],
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the python3 kernel's interpreter {python} cannot be run ({exc})"
    if done.returncode != 0:
        return (f"the python3 kernel runs {python}, which cannot import brokerlab: install "
                f"'brokerlab[nbgrader]' there, or point the kernel here with "
                f"{sys.executable} -m ipykernel install --sys-prefix")
    return None


def _extract(args: argparse.Namespace) -> int:
    from grader.integrations.nbgrader.submitted import find_nbgrader_students, write_submission

    students = find_nbgrader_students(args.source, args.assignment) if args.source.is_dir() else None
    if students is None:
        raise UserError(f"{args.source}: not an nbgrader course or submitted/<student>/<assignment>/ tree")
    if not students:
        raise UserError(f"{args.source}: no student has submitted notebooks")
    for student_id, submission in students.items():
        write_submission(submission, args.out / student_id)
        notes = "; ".join([*submission.problems.values(), *submission.skipped])
        print(f"{student_id}: {len(submission.sources)} files" + (f" ({notes})" if notes else ""))
    print(f"Wrote {len(students)} students to {args.out}; grade one with: brokerlab grade {args.out}/<student>")
    return 0
