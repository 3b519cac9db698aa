# Attack, appended to the reference routing and producer: route and send what make_task returns,
# but have it return a word instead of the task object, hoping that reading the routed bodies
# breaks the suite into a grader error instead of a failed test.
def make_task(task_type, task_data, now=None):
    return "many"
