# Attack, appended to the reference producer and consumer: set attributes SQS does not have on a
# queue ("_messages", which moto would set straight on its queue object, where the grader's own
# reads then break), or make the course's queue FIFO after the fact, hoping for grader errors.
_create_queue_honestly = create_queue  # noqa: F821 - the reference's


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    url = _create_queue_honestly(sqs, queue_name, visibility_timeout, retention_period)
    for attributes in ({"_messages": "xyz"}, {"FifoQueue": "true"}):
        try:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        except Exception:
            pass
    return url
