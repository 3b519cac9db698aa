"""The same students graded by `nbgrader autograde` and by brokerlab, side by side, in one run.

Makes a course with `brokerlab nbgrader init`, releases it with `nbgrader generate_assignment`,
hands in N students (each notebook finished or untouched, differently per student), then times:

- nbgrader: `nbgrader autograde` on all of them, one call (a kernel per notebook);
- brokerlab: one process that reads the same submitted/ tree (`find_nbgrader_students`) and grades
  every student with one warm Grader, which is what `brokerlab grade-all` does with such a tree.

Both are separate processes started from scratch, so both pay their start-up. It checks that the
two agree on every student's auto-graded score before printing the times and the ratio.

    .venv/bin/python benchmarks/nbgrader_vs_brokerlab.py [--students 6] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from grader.integrations.nbgrader.notebooks import solved

ASSIGNMENT = "bench"
BROKERLAB_SIDE = """
import json, sys
from pathlib import Path
from grader.grade import Grader
from grader.integrations.nbgrader.submitted import find_nbgrader_students
students = find_nbgrader_students(Path(sys.argv[1]))
with Grader() as grader:
    print(json.dumps({s: grader.grade_submission(sub).score for s, sub in students.items()}))
"""


def jupyter_env(folder: Path) -> dict[str, str]:
    """Jupyter looking only in ``folder``, with a python3 kernel that is this interpreter."""
    kernel = folder / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    env = dict(os.environ)
    env.update(JUPYTER_PATH=str(folder / "jupyter"), JUPYTER_DATA_DIR=str(folder / "jupyter-data"),
               JUPYTER_CONFIG_DIR=str(folder / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(folder / "jupyter-run"),
               IPYTHONDIR=str(folder / "ipython"),
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[:4])} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def hand_in(course: Path, students: int) -> int:
    """N students in submitted/; student i finishes notebook j when bit j of i+1 is set."""
    source = course / "source" / ASSIGNMENT
    released = {p.name: nbformat.read(p, as_version=4) for p in sorted((course / "release" / ASSIGNMENT).glob("*.ipynb"))}
    finished = {n: solved(nb, nbformat.read(source / n, as_version=4)) for n, nb in released.items()}
    for i in range(students):
        folder = course / "submitted" / f"student{i + 1:02d}" / ASSIGNMENT
        folder.mkdir(parents=True)
        for j, name in enumerate(released):
            nbformat.write(finished[name] if (i + 1) >> j & 1 else released[name], folder / name)
    return len(released)


def nbgrader_scores(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {s.student.id: s.score for s in gradebook.assignment_submissions(ASSIGNMENT)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the course folder and print where it is")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="brokerlab-bench-"))
    try:
        env = jupyter_env(folder)
        course = folder / "course"
        run([sys.executable, "-m", "grader", "nbgrader", "init", str(course), "--assignment", ASSIGNMENT], folder, env)
        run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], course, env)
        per_student = hand_in(course, args.students)
        notebooks = args.students * per_student

        nbgrader_time, _ = run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], course, env)
        brokerlab_time, out = run([sys.executable, "-c", BROKERLAB_SIDE, str(course)], course, env)

        theirs, ours = nbgrader_scores(course), json.loads(out)
        # nbgrader leaves written answers ungraded; brokerlab scores them 0 until a person does: same total.
        disagree = {s: (theirs.get(s), ours[s]) for s in ours if abs((theirs.get(s) or 0) - ours[s]) > 1e-6}
        print(f"{args.students} students x {per_student} notebooks ({notebooks} notebooks)")
        print(f"  nbgrader autograde : {nbgrader_time:6.1f} s  ({nbgrader_time / notebooks:.2f} s per notebook, "
              f"{nbgrader_time / args.students:.2f} s per student)")
        print(f"  brokerlab          : {brokerlab_time:6.1f} s  ({brokerlab_time / args.students:.2f} s per student)")
        print(f"  ratio              : brokerlab is {nbgrader_time / brokerlab_time:.1f}x faster")
        print("  scores             : " + ("the same for every student" if not disagree else f"DIFFER {disagree}"))
        if disagree:
            sys.exit(1)
    finally:
        if args.keep:
            print(f"course kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
