"""The class report: ``stats`` (pure numbers from the results) and ``html`` (one self-contained page)."""
