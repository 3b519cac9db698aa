"""Quizzes: the YAML question bank, its scorer and grader, the terminal quiz, and LMS exports.

One module, one job: ``schema`` (the typed format), ``loader`` (YAML with lines, the checks),
``scoring`` (one pure function per question type), ``grading`` (answers.yaml -> results),
``take`` (the terminal quiz), ``exporters`` (Canvas QTI, Moodle XML), ``command`` (the ``quiz`` verb).
"""
