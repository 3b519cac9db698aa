# Attack, appended to the reference producer: a timestamp with ISO-8601's shape and no real date
# in it, hoping the suite parses it unguarded and ends the test as a grader error.
def make_task(task_type, task_data, now=None):
    return {"taskType": task_type, "data": task_data, "timestamp": "2024-13-45T99:99:99Z"}
