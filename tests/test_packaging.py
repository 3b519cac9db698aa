"""A plain (non-editable) install carries the course material: exercises, public tests,
solutions, quizzes and examples land under <prefix>/share/brokerlab, where grader.paths looks."""
from __future__ import annotations

import subprocess
import sys
import zipfile

from grader.paths import ROOT


def test_the_wheel_carries_the_course_material(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = tmp_path.glob("brokerlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/data/")[0] for n in names if ".data/data/" in n) + "/data/share/brokerlab/"
    expected = [path.relative_to(ROOT).as_posix() for folder in ("exercises", "solutions", "quizzes", "examples")
                for path in (ROOT / folder).rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    missing = [name for name in expected if data + name not in names]
    assert not missing
    assert {"grader/suites/test_producer.py", "grader/suites/pytest.ini", "grader/sandbox/zygote.py"} <= names
