"""The course's ``nbgrader_config.py``: what nbgrader needs to know that its defaults get wrong here."""
from __future__ import annotations

# One hidden test cell grades its whole exercise in the grader's sandbox: a few seconds warm, more
# on a loaded machine; nbgrader's own default (30 s per cell) is too tight for a class at once.
CELL_TIMEOUT = 300

TEMPLATE = '''\
"""nbgrader configuration of the Broker Lab course, written by `brokerlab nbgrader init`.

The notebooks' test cells call the brokerlab package: it must be installed in the environment of the
`python3` kernel nbgrader runs (`pip install 'brokerlab[nbgrader]'` there).
"""
import os

c = get_config()  # noqa: F821 (nbgrader defines it)
course = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = course
# An absolute SQLite URL has four slashes: sqlite:////path/to/gradebook.db
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(course, "gradebook.db")

# Grade untrusted students with `brokerlab nbgrader autograde`: nbgrader's own `autograde` runs the
# test cells in the student's kernel, which the student's own cells can patch.
# In the kernel (nbgrader's autograde and validate) the first test cell of an exercise runs all its tests.
c.Execute.timeout = {timeout}

# Grades for Canvas's gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, "<name> (<id>)"):
#   nbgrader export --exporter=grader.integrations.nbgrader.exporter.CanvasCsvExportPlugin --to canvas.csv
# Each assignment's column needs its Canvas assignment id (the number in its Canvas URL):
# c.CanvasCsvExportPlugin.canvas_assignment_ids = {{"assignment name": 12345}}
# or make it the default exporter:
# c.ExportApp.plugin_class = "grader.integrations.nbgrader.exporter.CanvasCsvExportPlugin"
'''


def config_text(course_id: str, timeout: int = CELL_TIMEOUT) -> str:
    """The text of nbgrader_config.py for a course; relocatable (paths are taken from the file's place)."""
    return TEMPLATE.format(course_id=course_id, timeout=int(timeout))
