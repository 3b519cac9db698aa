"""An amqp_producer.py that looks, in every call, for what an earlier test (its own or a
classmate's, graded before it on the same broker) left on its virtual host, and then leaves the
same for a later one: a queue holding a message, an exchange, and a binding between two of the
broker's built-in exchanges (which no queue deletion removes). It prints its virtual host and
what it found, and never does the exercise."""
import os
from urllib.parse import unquote, urlsplit


def visit(channel):
    print("vhost:", unquote(urlsplit(os.environ.get("AMQP_URL", "")).path[1:]))
    connection = channel.connection
    probe = connection.channel()
    try:
        found = probe.queue_declare("stash", passive=True).method.message_count
        print(f"found: the queue 'stash' with {found} messages")
    except Exception:
        probe = connection.channel()
    try:
        probe.exchange_declare("stash-x", passive=True)
        print("found: the exchange 'stash-x'")
    except Exception:
        probe = connection.channel()
    mine = probe.queue_declare("", exclusive=True).method.queue
    probe.queue_bind(mine, "amq.fanout")
    probe.basic_publish("amq.direct", "stash", b"through a left binding")
    if probe.basic_get(mine, auto_ack=True)[0] is not None:
        print("found: a binding amq.direct -> amq.fanout")
    probe.queue_delete(mine)
    probe.queue_declare("stash", durable=True)
    probe.basic_publish("", "stash", b"left for a later test")
    probe.exchange_declare("stash-x", "topic", durable=True)
    probe.exchange_bind("amq.fanout", "amq.direct", "stash")
    print("left: a queue, an exchange, a binding")
    raise RuntimeError("mallory")


def declare_queue(channel, queue_name, dead_letter_queue=None):
    visit(channel)


def send_task(channel, queue_name, task_type, task_data):
    visit(channel)


def queue_status(channel, queue_name):
    visit(channel)
