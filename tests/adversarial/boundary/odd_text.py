# Attack, appended to the reference producer: text no file can hold (an unpaired UTF-16
# surrogate, which JSON can escape) in an exception, a returned {"$bytes": ...} that is not
# base64, and a printed number of 4400 digits (past what Python turns into an int), each hoping
# to end a test, or the whole grading, as a grader error. main() does the honest work.
_honest = {"main": main, "make_task": make_task, "queue_status": queue_status}  # noqa: F821 - the reference's
_in_main = False


def make_task(task_type, task_data, now=None):
    if _in_main:
        return _honest["make_task"](task_type, task_data, now)
    raise ValueError("lone surrogate \ud800 here")


def queue_status(sqs, queue_url):
    if _in_main:
        return _honest["queue_status"](sqs, queue_url)
    return {"$bytes": "\u00e9"}


def main():
    global _in_main
    _in_main = True
    try:
        _honest["main"]()
    finally:
        _in_main = False
    print("9" * 4400)
