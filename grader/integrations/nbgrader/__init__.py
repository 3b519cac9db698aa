"""nbgrader integration: a ready nbgrader course whose notebooks call into this package.

One module, one job: ``cells`` (what an answer cell holds, shared by all), ``notebooks`` (build the
notebooks with nbformat), ``config`` (the course's nbgrader_config.py), ``runtime`` (what the cells
call in the kernel), ``submitted`` (read students' notebooks into submissions for ``brokerlab``),
``autograde`` (the sandbox's verdicts into nbgrader's gradebook), ``exporter`` (a Canvas gradebook
CSV from nbgrader's gradebook), ``command`` (the ``nbgrader`` verb).
"""
