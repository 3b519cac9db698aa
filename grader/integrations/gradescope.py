"""``brokerlab gradescope``: a Gradescope autograder for the exercises and quizzes.

``brokerlab gradescope build OUT.zip`` writes the autograder zip Gradescope asks for:

- ``setup.sh`` (run once when Gradescope builds the image) finds or installs a Python 3.11+,
  makes a virtualenv in ``/autograder/venv`` and installs this package and its dependencies from
  ``/autograder/source`` (``pip install -e``: the grader reads its quizzes from its source tree);
- ``run_autograder`` (run for every submission) grades ``/autograder/submission`` and writes
  ``/autograder/results/results.json`` by Gradescope's specification; it always writes that
  file, even when grading itself fails (then one failing test says so and the score is 0);
- the source the grader needs: ``pyproject.toml``, ``README.md``, ``grader/``, ``quizzes/``,
  ``exercises/``. Never the reference solutions.

``brokerlab gradescope run [--root /autograder]`` is what ``run_autograder`` calls. Its root is
configurable, so a test can lay out a temporary folder like ``/autograder`` and run it there.

Visibility: the hidden suites' tests are ``after_published`` unless ``--hidden-visibility``
says otherwise (``hidden``, ``after_due_date``, ``visible``); quiz questions, whose feedback holds
the right answers, ``after_due_date`` unless ``--quiz-visibility after_published``.

The zip's ``requirements.txt`` pins, with ``==``, what grading needs (no plotting, no nbgrader) to
the versions installed where the zip is built (``grader.integrations.pins``).

Gradescope runs the autograder as root in a container that may not allow the namespaces the
grader's sandbox uses. ``run`` checks first; where the sandbox cannot be built, it grades as an
unprivileged user instead (``nobody``), so the student's code can neither write the results file
nor change the grader, and only the root process writes ``results.json``.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

from grader.errors import UserError
from grader.paths import ANSWERS_FILE, EXERCISE_FILES, ROOT
from grader.render.gradescope import HIDDEN_DEFAULT, QUIZ_DEFAULT, QUIZ_VISIBILITIES, VISIBILITIES

HELP = "build a Gradescope autograder zip, or run it on one submission"
ROOT_ENV = "BROKERLAB_AUTOGRADER_ROOT"  # a test lays out its own /autograder elsewhere
DEFAULT_ROOT = Path(os.environ.get(ROOT_ENV) or "/autograder")
SOURCE_PARTS = ("pyproject.toml", "README.md", "grader", "quizzes", "exercises")
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
UNPRIVILEGED = 65534  # nobody

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while building the autograder image (the zip is unpacked in
# /autograder/source). The root can be changed for testing: BROKERLAB_AUTOGRADER_ROOT=...
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
ROOT="${BROKERLAB_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$ROOT/venv"

# A released CPython 3.11+: Ubuntu 22.04 (Gradescope's default image) has 3.10, and its own
# python3.11 package is a release candidate (3.11.0~rc1), so neither will do.
good_python() {
  command -v "$1" >/dev/null 2>&1 &&
    "$1" -c 'import sys; v = sys.version_info; sys.exit(not (v >= (3, 11) and v.releaselevel == "final"))'
}

find_python() {
  local candidate
  for candidate in python3.13 python3.12 python3.11 python3; do
    if good_python "$candidate"; then command -v "$candidate"; return 0; fi
  done
  return 1
}

install_python_deadsnakes() {
  apt-get update
  apt-get install -y --no-install-recommends software-properties-common gpg-agent
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
}

install_python_uv() {
  apt-get install -y --no-install-recommends python3-pip
  python3 -m pip install uv
  python3 -m uv python install 3.11
  ln -sf "$(python3 -m uv python find 3.11)" /usr/local/bin/python3.11
}

ensure_python() {
  if ! find_python; then
    install_python_deadsnakes >&2 || install_python_uv >&2
    find_python || { echo "setup.sh: no released Python 3.11+ could be installed" >&2; return 1; }
  fi
}

# The AMQP track grades against a private RabbitMQ node the grader starts per run: the package
# only, its own service stopped and disabled (and the epmd it started asked to leave).
ensure_rabbitmq() {
  if ! command -v rabbitmq-server >/dev/null 2>&1 && [[ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
    apt-get update
    apt-get install -y --no-install-recommends rabbitmq-server
  fi
  service rabbitmq-server stop >/dev/null 2>&1 || true
  update-rc.d rabbitmq-server disable >/dev/null 2>&1 || true
  epmd -kill >/dev/null 2>&1 || true
}

main() {
  local py
  ensure_rabbitmq
  py="$(ensure_python)"
  echo "setup.sh: grading with $py ($("$py" --version))"
  if ! "$py" -m venv "$VENV"; then
    apt-get install -y --no-install-recommends "$(basename "$py")-venv"
    "$py" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --upgrade pip
  # exactly the versions the zip was built and tested with, and only what grading needs
  "$VENV/bin/python" -m pip install -r "$SOURCE/requirements.txt"
  "$VENV/bin/python" -m pip install --no-deps -e "$SOURCE"
  # fail the build now rather than at the first submission
  "$VENV/bin/python" -c "import grader.grade, grader.integrations.gradescope, grader.quiz.grading"
  chmod -R a+rX "$SOURCE" "$VENV"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission. It must always leave results/results.json behind.
# The root (normally /autograder) and the Python can be changed for testing:
#   run_autograder [ROOT]    or    BROKERLAB_AUTOGRADER_ROOT=... BROKERLAB_PYTHON=... run_autograder
ROOT="${1:-${BROKERLAB_AUTOGRADER_ROOT:-/autograder}}"
PY="${BROKERLAB_PYTHON:-$ROOT/venv/bin/python}"
export BROKERLAB_AUTOGRADER_ROOT="$ROOT"
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
cd "$ROOT/source" 2>/dev/null || cd "$ROOT"
"$PY" -m grader.integrations.gradescope run --root "$ROOT" --hidden-visibility @HIDDEN@ --quiz-visibility @QUIZ@
code=$?
if [ ! -s "$ROOT/results/results.json" ]; then
  cat > "$ROOT/results/results.json" <<JSON
{"score": 0, "visibility": "visible", "stdout_visibility": "hidden",
 "output": "The autograder could not grade this submission (it stopped with status $code). This is not your fault: please tell your instructor.",
 "tests": [{"name": "autograder", "score": 0, "max_score": 0, "status": "failed", "visibility": "visible",
            "output": "The autograder could not run (status $code). This is not your fault: please tell your instructor."}]}
JSON
fi
exit 0
"""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="write the autograder zip to upload to Gradescope")
    build.add_argument("zip", type=Path, metavar="OUT.zip", help="where to write the autograder zip")
    build.add_argument("--hidden-visibility", choices=VISIBILITIES, default=HIDDEN_DEFAULT,
                       help=f"when students see the hidden suites' tests (default: {HIDDEN_DEFAULT})")
    build.add_argument("--quiz-visibility", choices=QUIZ_VISIBILITIES, default=QUIZ_DEFAULT,
                       help=f"when students see quiz answers and explanations (default: {QUIZ_DEFAULT})")
    run_ = sub.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json (run_autograder)")
    run_.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                      help=f"the autograder root (default: ${ROOT_ENV}, else /autograder)")
    run_.add_argument("--hidden-visibility", choices=VISIBILITIES, default=HIDDEN_DEFAULT,
                      help=f"when students see the hidden suites' tests (default: {HIDDEN_DEFAULT})")
    run_.add_argument("--quiz-visibility", choices=QUIZ_VISIBILITIES, default=QUIZ_DEFAULT,
                      help=f"when students see quiz answers and explanations (default: {QUIZ_DEFAULT})")
    one = sub.add_parser("grade-json", help=argparse.SUPPRESS)  # the unprivileged half of ``run``
    one.add_argument("submission", type=Path)
    one.add_argument("--hidden-visibility", choices=VISIBILITIES, default=HIDDEN_DEFAULT)
    one.add_argument("--quiz-visibility", choices=QUIZ_VISIBILITIES, default=QUIZ_DEFAULT)


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        names = build_zip(args.zip, args.hidden_visibility, args.quiz_visibility)
        print(f"Wrote {args.zip} ({len(names)} files): upload it as the assignment's autograder.")
        return 0
    if args.action == "grade-json":
        json.dump(grade_json(args.submission, args.hidden_visibility, args.quiz_visibility), sys.stdout)
        return 0
    run_autograder(args.root, args.hidden_visibility, args.quiz_visibility)
    return 0


# -- the zip --------------------------------------------------------------------------------------------

def _source_files(root: Path = ROOT) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for part in SOURCE_PARTS:
        path = root / part
        if path.is_file():
            files.append((part, path))
        elif path.is_dir():
            for base, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
                for name in sorted(names):
                    if name.endswith(SKIP_SUFFIXES):
                        continue
                    full = Path(base) / name
                    if full.is_symlink() or not full.is_file():
                        continue
                    files.append((full.relative_to(root).as_posix(), full))
    return files


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    archive.writestr(info, data)


def build_zip(out: Path, hidden_visibility: str = HIDDEN_DEFAULT, quiz_visibility: str = QUIZ_DEFAULT) -> list[str]:
    """Write the autograder zip (the same bytes for the same source and environment); the names it holds."""
    from grader.integrations.pins import requirements_txt

    if hidden_visibility not in VISIBILITIES:
        raise UserError(f"--hidden-visibility must be one of {', '.join(VISIBILITIES)}")
    if quiz_visibility not in QUIZ_VISIBILITIES:
        raise UserError(f"--quiz-visibility must be one of {', '.join(QUIZ_VISIBILITIES)}")
    requirements = requirements_txt()
    if out.exists() and out.is_dir():
        raise UserError(f"{out}: is a folder; give the zip's file name")
    names: list[str] = []
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(tmp, "w") as archive:
            _add(archive, "setup.sh", SETUP_SH.encode(), executable=True)
            run_script = RUN_AUTOGRADER.replace("@HIDDEN@", hidden_visibility).replace("@QUIZ@", quiz_visibility)
            _add(archive, "run_autograder", run_script.encode(), executable=True)
            _add(archive, "requirements.txt", requirements.encode())
            names += ["setup.sh", "run_autograder", "requirements.txt"]
            files = _source_files()
            if not any(n == "README.md" for n, _ in files):  # pyproject names it: pip needs it
                _add(archive, "README.md", b"# Broker Lab autograder\n")
                names.append("README.md")
            for name, path in files:
                _add(archive, name, path.read_bytes(), executable=os.access(path, os.X_OK))
                names.append(name)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{out}: cannot write the zip ({exc.strerror or exc})") from None
    return names


# -- one submission -----------------------------------------------------------------------------------

def find_submission(folder: Path) -> Path:
    """The submission in Gradescope's folder: the folder itself, or the one zip uploaded into it."""
    if not folder.is_dir():
        return folder
    wanted = {*EXERCISE_FILES.values(), ANSWERS_FILE}
    if any((folder / name).exists() for name in wanted):
        return folder
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_file() and entries[0].suffix.lower() == ".zip":
        return entries[0]
    return folder


def failure(message: str, detail: str = "") -> dict[str, Any]:
    """A results.json that says grading did not happen, and why."""
    return {"score": 0.0, "visibility": "visible", "stdout_visibility": "hidden", "output": message,
            "tests": [{"name": "autograder", "score": 0.0, "max_score": 0.0, "status": "failed",
                       "output": (message + ("\n\n" + detail if detail else "")).strip(),
                       "visibility": "visible"}]}


def grade_json(submission: Path, hidden_visibility: str = HIDDEN_DEFAULT,
               quiz_visibility: str = QUIZ_DEFAULT) -> dict[str, Any]:
    """Grade one submission into Gradescope's results (never raises for the submission's faults)."""
    from grader.grade import Grader
    from grader.render.gradescope import to_gradescope
    from grader.submission import UnreadableSubmission

    path = find_submission(submission)
    try:
        with Grader() as grader:
            result = grader.grade(path)
    except UnreadableSubmission as exc:
        reason = str(exc).replace(str(path), path.name)
        return failure(f"Your submission could not be opened: {reason}. Upload the exercise files "
                       f"({', '.join(EXERCISE_FILES.values())}, {ANSWERS_FILE}) or one zip of them.")
    return to_gradescope(result, hidden_visibility, quiz_visibility)


def sandbox_available() -> bool:
    """Whether this machine gives the grader its full sandbox: the self-check's real trial."""
    from grader.sandbox import selfcheck
    from grader.sandbox.client import Zygote

    try:
        box = selfcheck.settings()
    except selfcheck.SandboxUnavailable:
        return False
    if not box["isolate"]:
        return True  # not asked for: nothing to check
    zygote = Zygote()
    try:
        return selfcheck.prove(zygote, box).ok
    finally:
        zygote.close()


def _grade_unprivileged(submission: Path, hidden_visibility: str, quiz_visibility: str) -> dict[str, Any]:
    """Grade in a child running as ``nobody``; its JSON comes back on stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"HOME": "/tmp", "TMPDIR": "/tmp", "BROKERLAB_SANDBOX": "off"})
    with tempfile.TemporaryDirectory(prefix="brokerlab-gradescope-") as tmp:
        copy = Path(tmp) / "submission"  # a copy it can read, whatever the upload's modes
        if submission.is_dir():
            shutil.copytree(submission, copy, symlinks=True)
        else:
            copy = Path(tmp) / submission.name
            shutil.copy2(submission, copy)
        for base, dirs, files in os.walk(tmp):
            for name in dirs + files:
                target = os.path.join(base, name)
                if not os.path.islink(target):
                    os.chmod(target, 0o755 if os.path.isdir(target) else 0o644)
        os.chmod(tmp, 0o755)
        done = subprocess.run(
            [sys.executable, "-m", "grader.integrations.gradescope", "grade-json", str(copy),
             "--hidden-visibility", hidden_visibility, "--quiz-visibility", quiz_visibility],
            cwd="/", env=env, user=UNPRIVILEGED, group=UNPRIVILEGED, extra_groups=[], stdin=subprocess.DEVNULL,
            capture_output=True, timeout=1800)
    sys.stdout.write(done.stderr.decode("utf-8", "replace")[-20000:])
    if done.returncode != 0:
        raise RuntimeError(f"the unprivileged grader exited with status {done.returncode}")
    data = json.loads(done.stdout)
    for test in data.get("tests", []):  # the copy's path means nothing to the student
        test["output"] = str(test.get("output", "")).replace(str(copy), submission.name)
    data["output"] = str(data.get("output", "")).replace(str(copy), submission.name)
    return data


def run_autograder(root: Path, hidden_visibility: str = HIDDEN_DEFAULT,
                   quiz_visibility: str = QUIZ_DEFAULT) -> dict[str, Any]:
    """Grade ROOT/submission and write ROOT/results/results.json, whatever happens."""
    started = time.monotonic()
    results = root / "results" / "results.json"
    try:
        submission = root / "submission"
        if not submission.exists():
            data = failure("No submission was found to grade. This is not your fault: please tell your instructor.",
                           f"{submission} does not exist")
        elif os.geteuid() == 0 and not sandbox_available():
            print("brokerlab: the sandbox cannot be built here; grading as an unprivileged user")
            data = _grade_unprivileged(submission.resolve(), hidden_visibility, quiz_visibility)
        else:
            data = grade_json(submission, hidden_visibility, quiz_visibility)
    except BaseException as exc:  # noqa: BLE001 - a results file is written whatever happened
        print(traceback.format_exc())  # stdout: hidden from students, kept for the instructor
        data = failure("The autograder failed while grading this submission. This is not your fault: "
                       "please tell your instructor.", f"({type(exc).__name__})")
        if isinstance(exc, KeyboardInterrupt):
            _write(results, data, started)
            raise
    _write(results, data, started)
    return data


def _write(path: Path, data: dict[str, Any], started: float) -> None:
    data = {**data, "execution_time": round(time.monotonic() - started, 2)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """``python -m grader.integrations.gradescope ...``: what run_autograder calls."""
    from grader.cli import main as brokerlab

    return brokerlab(["gradescope", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
