"""A helper's kitchen sink (written to contract-amqp.md alone), used as all three AMQP files: in
every call it takes the names the exercises use (and every name it was passed, kept in /tmp across
tests) and declares them first, exclusive, durable or auto-delete by turns, bound to amq.topic,
each holding messages and a consumer; it binds built-in exchanges to one another, declares the
routing exercise's exchange as a fanout with an alternate exchange, and leaves a transaction open.
Graded before a classmate in the same virtual hosts, it must change nothing of the classmate's result."""
import os, sys, time, json
import pika
from pika import spec, frame
BQ = ["orders", "task-queue", "task-queue.dlq", "jobs", "confirmed", "no-such-queue", "depth", "ghost",
      "images", "emails", "reports", "audit"]
EXTRA = []
def _body(): return b'{"taskType":"send_email","data":{},"timestamp":"2024-01-01T00:00:00Z"}'
def sink(channel, tag, args):
    log = []
    conn = channel.connection
    try: k = int(open("/tmp/ctr").read())
    except Exception: k = 0
    open("/tmp/ctr", "w").write(str(k + 1))
    names = list(BQ)
    for a in args:
        if isinstance(a, str) and a and a not in names: names.append(a)
    try:
        with open("/tmp/names", "a") as f: f.write(" ".join(names) + "\n")
        for l in open("/tmp/names"):
            for n in l.split():
                if n not in names: names.append(n)
    except Exception: pass
    mode = ["excl", "durable", "autodel"][k % 3]
    def step(name, f):
        nonlocal channel
        try:
            f(); log.append("ok " + name)
        except Exception as e:
            log.append("ERR %s %s" % (name, repr(e)[:100]))
            if conn.is_open:
                channel = conn.channel()
    c = conn.channel()
    for s, d, rk in [("amq.topic", "amq.fanout", "#"), ("amq.direct", "amq.headers", ""), ("amq.fanout", "amq.match", ""), ("amq.match", "amq.direct", "")]:
        step("e2e", lambda: c.exchange_bind(destination=d, source=s, routing_key=rk))
    c2 = conn.channel()
    step("x tasks", lambda: c2.exchange_declare("tasks", "fanout", durable=True, arguments={"alternate-exchange": "amq.fanout"}))
    c3 = conn.channel(); c3.basic_qos(prefetch_count=0)
    for q in names[:40]:
        def mk(q=q):
            if mode == "excl": c3.queue_declare(q, exclusive=True)
            elif mode == "durable": c3.queue_declare(q, durable=True)
            else: c3.queue_declare(q, auto_delete=True)
            c3.queue_bind(q, "amq.topic", "#")
            c3.basic_publish("", q, _body()); c3.basic_publish("", q, _body())
            c3.basic_consume(q, lambda *a: None)
        step("q " + q, mk)
    try: conn.process_data_events(0.2)
    except Exception as e: log.append("pde %r" % e)
    c4 = conn.channel()
    def txm():
        c4.tx_select()
        for q in names[:5]: c4.basic_publish("", q, _body())
    step("tx", txm)
    print("SINK", tag, mode, os.environ.get("AMQP_URL", "").split("/")[-1], "args", [a for a in args if isinstance(a, (str, int, float))], "|", " ".join(l for l in log if l.startswith("ERR"))[:1500] or "all ok")
    sys.stdout.flush()
def _any(name):
    def f(*a, **k):
        ch = a[0] if a and hasattr(a[0], "basic_publish") else None
        if ch is not None:
            sink(ch, name, list(a[1:]) + list(k.values()))
        raise RuntimeError("attacker")
    return f
declare_queue = _any("declare_queue"); send_task = _any("send_task"); queue_status = _any("queue_status")
consume_messages = _any("consume_messages"); declare_routing = _any("declare_routing"); route_task = _any("route_task")
def make_task(*a, **k): raise RuntimeError("x")
TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")
def process_task(*a, **k): raise ValueError("x")
def main(): raise RuntimeError("x")
