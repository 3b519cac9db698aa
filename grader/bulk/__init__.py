"""Grading a whole class: ``brokerlab grade-all``.

One module, one job: ``sources`` (find the students in SOURCE, unpacking a class archive
safely), ``pool`` (grade them in parallel, one forked child per submission), ``store`` (the
resumable ``results.jsonl``), ``gradebook`` (``grades.csv`` and the Canvas CSV), ``command``
(the verb, tying them together with the feedback files and the class report).
"""
