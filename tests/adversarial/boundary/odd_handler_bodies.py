# Attack, appended to the reference consumer (SQS or AMQP): hand the grader's handler a body that
# is not a message's body (an int) once, then consume honestly, hoping that the suite, comparing
# the bodies its handler saw, breaks into a grader error.
_consume_honestly = consume_messages  # noqa: F821 - the reference's


def consume_messages(channel_or_sqs, queue, handler=None, *args, **kwargs):
    if handler is not None:
        try:
            handler(0)
        except Exception:
            pass
    return _consume_honestly(channel_or_sqs, queue, *((handler,) if handler is not None else ()), *args, **kwargs)
