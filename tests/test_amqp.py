"""The AMQP track's machinery: the private node (started, confined to loopback, gone after its
grader however the grader ends), the relay's log and rules, and a hostile submission on the one
connection it gets. Needs rabbitmq-server (``.ci/run`` installs it) or BROKERLAB_AMQP_URL."""
from __future__ import annotations

import json
import re
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.amqp import frames, service
from grader.amqp.admin import Admin
from grader.amqp.node import Node, find_server
from grader.amqp.relay import QUEUE_ARGUMENTS, Log, Relay, refusal
from grader.grade import Grader
from grader.paths import ROOT, SOLUTIONS
from grader.results import Status

BOUNDARY = Path(__file__).parent / "adversarial" / "boundary"
needs_broker = pytest.mark.skipif(not service.available(), reason="no rabbitmq-server and no BROKERLAB_AMQP_URL")
needs_server = pytest.mark.skipif(find_server() is None, reason="rabbitmq-server is not installed")


def method_frame(class_id: int, method_id: int, payload: bytes = b"", channel: int = 1) -> bytes:
    body = struct.pack(">HH", class_id, method_id) + payload
    return struct.pack(">BHI", 1, channel, len(body)) + body + b"\xce"


def test_frames_are_read_across_chunk_boundaries():
    ack = method_frame(60, 80, struct.pack(">QB", 7, 1))
    nack = method_frame(60, 120, struct.pack(">QB", 9, 0b10))
    stream = frames.PROTOCOL_HEADER + ack + nack
    reader = frames.FrameReader(client_side=True)
    got = [f for i in range(len(stream)) for f in reader.feed(stream[i:i + 1])]
    assert [(f.name, f.args) for f in got] == [("basic.ack", {"delivery_tag": 7, "multiple": True}),
                                               ("basic.nack", {"delivery_tag": 9, "multiple": False,
                                                               "requeue": True})]


def test_content_is_joined_to_its_method_and_garbage_is_refused():
    publish = method_frame(60, 40, struct.pack(">H", 0) + b"\x00" + b"\x01q" + b"\x01")
    props = struct.pack(">HHQH", 60, 0, 5, 0b0001_0000_0000_0000) + b"\x02"  # delivery_mode only
    header = struct.pack(">BHI", 2, 1, len(props)) + props + b"\xce"
    body = struct.pack(">BHI", 3, 1, 5) + b"hello" + b"\xce"
    reader = frames.FrameReader(client_side=False)
    (frame,) = reader.feed(publish + header + body)
    assert frame.name == "basic.publish" and frame.args["routing_key"] == "q" and frame.args["mandatory"]
    assert frame.properties == {"delivery_mode": 2} and frame.body == b"hello"
    with pytest.raises(frames.FrameError):
        frames.FrameReader(client_side=True).feed(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(frames.FrameError):
        frames.FrameReader(client_side=False).feed(struct.pack(">BHI", 1, 0, 1 << 30) + b"x")


def test_unsettled_deliveries_follow_acks_nacks_and_multiple():
    log = Log()
    for tag in (1, 2, 3):
        log.add("broker", "basic.deliver", 1, {"consumer_tag": "c", "delivery_tag": tag, "redelivered": False}, {},
                b"m%d" % tag)
    log.add("client", "basic.ack", 1, {"delivery_tag": 2, "multiple": True})
    assert [d.tag for d in log.unsettled()] == [3] and log.most_unsettled() == 3
    log.add("client", "basic.reject", 1, {"delivery_tag": 3, "requeue": False})
    assert [d.settlement for d in log.deliveries()] == ["ack", "ack", "reject"] and not log.unsettled()


def test_a_reopened_channels_deliveries_are_not_mistaken_for_the_closed_ones():
    """Delivery tags start again on a channel opened anew: an ack there settles its own delivery,
    and what the closed channel held was requeued by the broker, never acknowledged."""
    log = Log()
    log.add("broker", "basic.deliver", 1, {"consumer_tag": "c", "delivery_tag": 1, "redelivered": False}, {}, b"old")
    log.add("client", "channel.close", 1, {})
    log.add("broker", "channel.close-ok", 1, {})
    log.add("broker", "basic.deliver", 1, {"consumer_tag": "d", "delivery_tag": 1, "redelivered": True}, {}, b"old")
    assert [d.settlement for d in log.deliveries()] == ["closed", None] and log.most_unsettled() == 1
    log.add("client", "basic.ack", 1, {"delivery_tag": 1, "multiple": False})
    assert [d.settlement for d in log.deliveries()] == ["closed", "ack"] and not log.unsettled()


def test_a_recover_requeues_what_its_channel_held_and_its_redeliveries_are_new_deliveries():
    """basic.recover(requeue=True) hands every unacknowledged delivery back to the broker, which
    delivers them again under new tags: the old ones are no longer held, and prefetch counts the
    new ones only."""
    log = Log()
    for tag in (1, 2):
        log.add("broker", "basic.deliver", 1, {"consumer_tag": "c", "delivery_tag": tag, "redelivered": False}, {},
                b"m%d" % tag)
    log.add("client", "basic.recover", 1, {"requeue": True})
    for tag in (3, 4):
        log.add("broker", "basic.deliver", 1, {"consumer_tag": "c", "delivery_tag": tag, "redelivered": True}, {},
                b"m%d" % (tag - 2))
    assert [d.settlement for d in log.deliveries()] == ["requeue", "requeue", None, None]
    assert log.most_unsettled() == 2
    log.add("client", "basic.ack", 1, {"delivery_tag": 4, "multiple": True})
    assert not log.unsettled() and [d.settlement for d in log.deliveries()][2:] == ["ack", "ack"]


@pytest.fixture(scope="module")
def endpoint():
    if not service.available():
        pytest.skip("no rabbitmq-server and no BROKERLAB_AMQP_URL")
    return service.endpoint()


def _table(*pairs: tuple[bytes, bytes]) -> bytes:
    inner = b"".join(bytes([len(k)]) + k + v for k, v in pairs)
    return struct.pack(">I", len(inner)) + inner


def test_a_field_table_that_names_a_key_twice_is_refused():
    """The broker may read the first of two values, the relay the last: neither is trusted."""
    classic, quorum = b"S" + struct.pack(">I", 7) + b"classic", b"S" + struct.pack(">I", 6) + b"quorum"
    declare = struct.pack(">H", 0) + b"\x01q" + b"\x02" + _table((b"x-queue-type", quorum), (b"x-queue-type", classic))
    with pytest.raises(frames.FrameError, match="twice"):
        frames.FrameReader(client_side=False).feed(method_frame(50, 10, declare))
    once = struct.pack(">H", 0) + b"\x01q" + b"\x02" + _table((b"x-queue-type", classic))
    (frame,) = frames.FrameReader(client_side=False).feed(method_frame(50, 10, once))
    assert frame.args["arguments"] == {"x-queue-type": "classic"}


def test_the_relay_refuses_what_lets_the_broker_copy_messages_by_itself():
    """A queue that expires or drops messages while dead-lettering them, a quorum queue, a message
    that expires: refused; the reference's durable queue with its dead-letter route: admitted."""
    def declare(arguments):
        return frames.Frame(1, "queue.declare", {"queue": "q", "arguments": arguments})

    dead_letter = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "q.dlq"}
    assert set(dead_letter) <= QUEUE_ARGUMENTS and refusal(declare(dead_letter)) is None
    assert refusal(declare({"x-queue-type": "classic"})) is None
    for arguments in ({"x-message-ttl": 0, **dead_letter}, {"x-max-length": 0}, {"x-overflow": "drop-head"},
                      {"x-queue-type": "quorum"}, {"x-expires": 1000}):
        assert refusal(declare(arguments)), arguments
    publish = frames.Frame(1, "basic.publish", {"exchange": "", "routing_key": "q"}, {"expiration": "0"}, b"x")
    assert "expiration" in refusal(publish)
    assert refusal(frames.Frame(1, "basic.publish", {}, {"delivery_mode": 2}, b"x")) is None


@needs_broker
def test_a_full_queue_refuses_new_messages_and_dead_letters_none(endpoint):
    """Dropping a full queue's oldest message would dead-letter it (a second road to the storm
    below): the test's policy has a full queue refuse the publish instead."""
    import pika

    lease = service.lease()
    try:
        url = f"amqp://{lease.user}:{lease.password}@{endpoint.host}:{endpoint.amqp_port}/{lease.vhost}"
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("dlq")
        channel.queue_declare("full", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
        megabyte = b"x" * (1 << 20)
        for _ in range(8):  # the policy's 8 MiB
            channel.basic_publish("", "full", megabyte)
        with pytest.raises(pika.exceptions.NackError):
            channel.basic_publish("", "full", megabyte)
        assert channel.queue_declare("full", passive=True).method.message_count == 8
        assert channel.queue_declare("dlq", passive=True).method.message_count == 0
        connection.close()
    finally:
        service.give_back(lease)


@needs_broker
def test_a_dead_letter_storm_never_starts_on_the_broker(tmp_path, endpoint):
    """Queues that expire into a fanout exchange bound to them all (one message, copied without
    end by the broker): the relay cuts the connection at the first such queue; the node's memory
    stays as it was, the test fails in words, and no test is a grader error."""
    result = _graded_with(tmp_path, "amqp_dead_letter_storm.py", "amqp_producer")
    passed = _no_grader_errors(result)["amqp_producer"]
    assert passed["declare_queue_again_changes_nothing"] is False and passed["make_task"] is True
    feedback = {t.name: t.feedback for t in result.exercises["amqp_producer"].tests}
    assert "the queue argument 'x-message-ttl' is not one the exercises use" in \
        feedback["declare_queue_again_changes_nothing"]
    time.sleep(2)  # a storm, had one started, grows by hundreds of MB a second
    assert _brokers_memory() < 1 << 30


def _brokers_memory() -> int:
    """Bytes resident in every Erlang VM on this machine (the test's RabbitMQ node among them)."""
    total = 0
    for entry in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Name", "").strip() == "beam.smp":
            total += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    return total


@needs_broker
def test_the_relay_admits_only_the_tests_vhost_and_one_connection(endpoint):
    import pika

    admin = Admin(endpoint)
    admin.create_vhost("relay-test", "relay-user", "pw")
    try:
        for vhost, admitted in (("/", False), ("relay-test", True)):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(4)
            port = listener.getsockname()[1]
            log = Log()
            relay = Relay(listener, (endpoint.host, endpoint.amqp_port), "relay-test", log).start()
            url = f"amqp://relay-user:pw@127.0.0.1:{port}/{'%2F' if vhost == '/' else vhost}"
            if admitted:
                connection = pika.BlockingConnection(pika.URLParameters(url))
                connection.channel().queue_declare("seen")
                assert [e["queue"] for e in log.client("queue.declare")] == ["seen"]
                with pytest.raises(pika.exceptions.AMQPConnectionError):
                    pika.BlockingConnection(pika.URLParameters(url))  # the listener took one connection
            else:
                with pytest.raises(pika.exceptions.AMQPConnectionError):
                    pika.BlockingConnection(pika.URLParameters(url))
                assert "virtual host" in (log.cut or "")
            relay.close()
    finally:
        admin.delete_vhost("relay-test", "relay-user")


@needs_broker
def test_pipelined_gets_are_each_labelled_with_their_own_no_ack(endpoint):
    """basic.get is answered in the order a channel sent it: a client that sends a get that
    acknowledges and one that does not, before either answer, holds the first delivery
    unacknowledged and not the second (the log once labelled both with the last get's no_ack)."""
    import pika
    from pika import spec

    admin = Admin(endpoint)
    admin.create_vhost("relay-gets", "relay-gets", "pw")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    log = Log()
    relay = Relay(listener, (endpoint.host, endpoint.amqp_port), "relay-gets", log).start()
    try:
        url = f"amqp://relay-gets:pw@127.0.0.1:{listener.getsockname()[1]}/relay-gets"
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.queue_declare("q")
        for body in (b"held", b"auto", b"held-too"):
            channel.basic_publish("", "q", body)
        for no_ack in (False, True, False, True):  # the last finds the queue empty
            channel._impl._send_method(spec.Basic.Get(queue="q", no_ack=no_ack))
        deadline = time.monotonic() + 5
        while len(log.broker("basic.get-ok")) + len(log.broker("basic.get-empty")) < 4 and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.05)
        assert [d.body for d in log.deliveries()] == [b"held", b"auto", b"held-too"]
        assert sorted(d.body for d in log.unsettled()) == [b"held", b"held-too"]
        connection.close()
    finally:
        relay.close()
        admin.delete_vhost("relay-gets", "relay-gets")


@needs_server
def test_the_node_listens_on_loopback_only_and_leaves_nothing_after_stop():
    node = Node()
    started = time.monotonic()
    endpoint = node.start()
    took = time.monotonic() - started
    folder, keeper = node.folder, node.keeper.pid
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
    beams = [line for line in listening if f"pid={_beam_of(keeper)}," in line]
    assert beams and all(" 127.0.0.1:" in line for line in beams), beams
    assert any(f":{endpoint.amqp_port} " in line for line in beams)
    node.stop()
    assert not folder.exists() and not _alive(keeper)
    print(f"node started in {took:.1f} s")


@needs_server
def test_a_killed_grader_leaves_no_node(tmp_path):
    script = ("import json, sys, time\nfrom grader.amqp.node import Node\nn = Node(); n.start()\n"
              "print(json.dumps({'folder': str(n.folder), 'keeper': n.keeper.pid}), flush=True)\ntime.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    facts = json.loads(child.stdout.readline())
    beam = _beam_of(facts["keeper"])
    assert beam and Path(facts["folder"]).exists()
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (_alive(beam) or Path(facts["folder"]).exists() or _alive(facts["keeper"])):
        time.sleep(0.05)
    assert not _alive(beam) and not Path(facts["folder"]).exists() and not _alive(facts["keeper"])


@needs_broker
@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's isolation needs root")
def test_a_hostile_submission_reaches_nothing_but_its_own_vhost(tmp_path, endpoint):
    folder = tmp_path / "mallory"
    folder.mkdir()
    source = (BOUNDARY / "amqp_escape.py").read_text().replace("__PORT__", str(endpoint.amqp_port))
    (folder / "amqp_producer.py").write_text(source)
    shutil.copy(SOLUTIONS / "amqp_consumer.py", folder / "amqp_consumer.py")
    admin = Admin(endpoint)
    vhosts, users = set(admin.vhosts()), set(admin.users())
    with Grader(exercises=("amqp_producer", "amqp_consumer"), quizzes=False) as grader:
        result = grader.grade(folder)
    said = "\n".join(t.output or "" for t in result.exercises["amqp_producer"].tests)
    for probe in ("second-connection", "node-port", "management", "epmd", "other-vhost", "after-cut"):
        assert f"{probe}: refused" in said, (probe, said)
    assert "queue-flood: stopped after 2" in said, said  # 24 per virtual host: the test's own and the flood's
    assert "stash: found" not in said, said
    assert result.exercises["amqp_producer"].score == 0
    assert result.exercises["amqp_consumer"].score == result.exercises["amqp_consumer"].max_score
    assert set(admin.vhosts()) <= vhosts, "virtual hosts outlived their grading"
    assert set(admin.users()) <= users, "users outlived their grading"


def _graded_with(tmp_path: Path, attack: str, *exercises: str):
    """The reference solutions of ``exercises``, each with the attack in ``BOUNDARY / attack``
    appended, graded together."""
    folder = tmp_path / attack.removesuffix(".py")
    folder.mkdir()
    for exercise in exercises:
        name = f"{exercise}.py"
        (folder / name).write_text((SOLUTIONS / name).read_text() + "\n\n" + (BOUNDARY / attack).read_text())
    with Grader(exercises=exercises, quizzes=False) as grader:
        return grader.grade(folder)


def _no_grader_errors(result) -> dict[str, dict[str, bool]]:
    errors = [(t.name, t.feedback) for e in result.exercises.values() for t in e.tests
              if t.status is Status.GRADER_ERROR]
    assert errors == []
    return {k: {t.name: t.passed for t in e.tests} for k, e in result.exercises.items()}


@needs_broker
def test_bodies_no_suite_expects_are_the_students_mistake_never_a_grader_error(tmp_path, endpoint):
    result = _graded_with(tmp_path, "amqp_wrong_types.py", "amqp_producer", "amqp_routing")
    routing = _no_grader_errors(result)["amqp_routing"]
    assert routing["each_task_reaches_its_queue_and_audit"] is False
    assert routing["declare_routing_topic_exchange"] is True


@needs_broker
def test_a_task_that_only_looks_right_earns_nothing_and_is_never_a_grader_error(tmp_path, endpoint):
    """make_task with an impossible date, with a word where the task should be, or with a constant
    that ignores its arguments: each fails the test of make_task, as the student's mistake."""
    results = {attack: _no_grader_errors(_graded_with(tmp_path, attack, exercise))[exercise]
               for attack, exercise in (("amqp_impossible_date.py", "amqp_producer"),
                                        ("amqp_task_not_dict.py", "amqp_producer"),
                                        ("amqp_constant_task.py", "amqp_routing"))}
    assert results["amqp_impossible_date.py"]["make_task"] is False
    assert results["amqp_constant_task.py"]["make_task"] is False
    assert results["amqp_task_not_dict.py"]["make_task"] is False
    assert results["amqp_task_not_dict.py"]["declare_queue_durable"] is True


@needs_broker
def test_what_the_broker_lacks_for_a_check_is_the_students_failure(tmp_path, endpoint):
    """A queue a test reads that the student's code never declared, or deleted: the grader's own
    look at it fails that test with the broker's words, never as a grader error."""
    result = _graded_with(tmp_path, "amqp_missing_objects.py", "amqp_routing", "amqp_consumer")
    passed = _no_grader_errors(result)
    assert passed["amqp_routing"]["each_task_reaches_its_queue_and_audit"] is False
    assert passed["amqp_consumer"]["consume_handles_and_acks"] is False
    feedback = {t.name: t.feedback for t in result.exercises["amqp_routing"].tests}
    assert "NOT_FOUND" in feedback["each_task_reaches_its_queue_and_audit"]


@needs_broker
def test_what_the_graders_client_cannot_take_is_the_students_failure(tmp_path, endpoint):
    """A queue that rejects every publish (the grader's messages are nacked) and a header no
    client can decode (the grader's connection breaks reading it): failed tests, and the tests
    after them run on a new connection. A handler handed a body that is not bytes refuses it."""
    result = _graded_with(tmp_path, "amqp_unreadable.py", "amqp_producer")
    passed = _no_grader_errors(result)["amqp_producer"]
    assert passed["send_task_persistent_json"] is False and passed["make_task"] is True

    folder = tmp_path / "eve"
    folder.mkdir()
    text = (SOLUTIONS / "amqp_consumer.py").read_text() + "\n\n" + (BOUNDARY / "odd_handler_bodies.py").read_text()
    (folder / "amqp_consumer.py").write_text(text)
    with Grader(exercises=("amqp_consumer",), quizzes=False) as grader:
        consumer = _no_grader_errors(grader.grade(folder))["amqp_consumer"]
    assert consumer["consume_handles_and_acks"] is True
    said = " ".join(t.feedback for t in result.exercises["amqp_producer"].tests)
    assert "rejects what is published" in said and "cannot decode" in said


@needs_broker
def test_what_a_test_leaves_on_the_broker_never_reaches_the_next_test(tmp_path, endpoint):
    """A queue named "." (which the management API cannot address) and a flood of exchanges: the
    flood is cut at the relay's limit, the virtual host is replaced instead of emptied, and the
    tests after it are graded as usual (none a grader error or a wait)."""
    admin = Admin(endpoint)
    vhosts = set(admin.vhosts())
    result = _graded_with(tmp_path, "amqp_litter.py", "amqp_producer")
    passed = _no_grader_errors(result)["amqp_producer"]
    assert passed["make_task"] is True and passed["send_task_persistent_json"] is True
    said = " ".join(t.feedback for t in result.exercises["amqp_producer"].tests)
    assert "declarations and bindings" in said
    assert set(admin.vhosts()) <= vhosts, "virtual hosts outlived their grading"


@needs_broker
def test_a_class_run_removes_what_a_stopped_childs_tests_held_on_the_broker(tmp_path, endpoint):
    """On an instructor's broker (which outlives the run): a student whose grading is stopped at
    the run's time limit, mid-test (a consumer that spins), leaves no virtual host and no user,
    neither those its grading made nor those the classmate graded before it passed on."""
    klass = tmp_path / "class"
    (klass / "a-before").mkdir(parents=True)
    shutil.copy(SOLUTIONS / "amqp_producer.py", klass / "a-before" / "amqp_producer.py")
    (klass / "slow").mkdir(parents=True)
    shutil.copy(SOLUTIONS / "amqp_producer.py", klass / "slow" / "amqp_producer.py")
    spin = "\n\ndef consume_messages(*args, **kwargs):\n    while True:\n        pass\n"
    (klass / "slow" / "amqp_consumer.py").write_text((SOLUTIONS / "amqp_consumer.py").read_text() + spin)
    admin = Admin(endpoint)
    vhosts, users = set(admin.vhosts()), set(admin.users())
    env = {**os.environ, "TMPDIR": str(tmp_path), "BROKERLAB_AMQP_URL": endpoint.amqp_url(""),
           "BROKERLAB_AMQP_MANAGEMENT_URL": endpoint.management_url}
    done = subprocess.run([sys.executable, "-m", "grader", "grade-all", str(klass), "--out", str(tmp_path / "out"),
                           "--timeout", "5", "--jobs", "1", "--quiet"], capture_output=True, text=True, timeout=600,
                          env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "timed out" in (tmp_path / "out" / "grades.csv").read_text()
    assert set(admin.vhosts()) <= vhosts, "a stopped child's virtual hosts outlived the run"
    assert set(admin.users()) <= users, "a stopped child's users outlived the run"


@needs_broker
def test_a_class_run_hands_a_students_virtual_hosts_on_clean(tmp_path, endpoint):
    """A class run passes the virtual hosts a finished student's grading used to the next one
    instead of making new ones; whatever a test left there (a queue holding a message, an
    exchange, a binding between built-in exchanges) never reaches a later test, of the same
    student or of the next, and nothing outlives the run."""
    klass = tmp_path / "class"
    for student in ("a-first", "b-next"):
        (klass / student).mkdir(parents=True)
        shutil.copy(BOUNDARY / "amqp_leftovers.py", klass / student / "amqp_producer.py")
    admin = Admin(endpoint)
    vhosts, users = set(admin.vhosts()), set(admin.users())
    env = {**os.environ, "TMPDIR": str(tmp_path), "BROKERLAB_AMQP_URL": endpoint.amqp_url(""),
           "BROKERLAB_AMQP_MANAGEMENT_URL": endpoint.management_url}
    done = subprocess.run([sys.executable, "-m", "grader", "grade-all", str(klass), "--out", str(tmp_path / "out"),
                           "--jobs", "1", "--quiet"], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    said = {}
    for line in (tmp_path / "out" / "results.jsonl").open():
        row = json.loads(line)
        said[row["student_id"]] = "\n".join(t.get("output") or "" for t in row["exercises"]["amqp_producer"]["tests"])
    used = {student: set(re.findall(r"^vhost: (\S+)$", text, re.M)) for student, text in said.items()}
    assert all(text.count("left: a queue, an exchange, a binding") >= 3 for text in said.values()), said
    assert used["a-first"] & used["b-next"], "the next student's tests got virtual hosts of their own, not passed on"
    assert not any("found:" in text for text in said.values()), said
    assert set(admin.vhosts()) <= vhosts, "virtual hosts outlived the run"
    assert set(admin.users()) <= users, "users outlived the run"


@needs_broker
def test_a_classmate_graded_after_a_poisoner_in_its_virtual_hosts_keeps_full_marks(tmp_path, endpoint):
    """The classmate graded next gets the virtual hosts a hostile student's tests filled with the
    exercises' own names declared the wrong way (exclusive, auto-delete, bound to amq.topic, with
    messages and consumers), built-in exchanges bound to one another and an open transaction: the
    reference solutions still earn every AMQP point (and the student graded after them was in the
    same virtual hosts: they were passed on)."""
    klass = tmp_path / "class"
    for student in ("a-poisoner", "b-classmate", "c-witness"):
        (klass / student).mkdir(parents=True)
    for name in ("amqp_producer.py", "amqp_consumer.py", "amqp_routing.py"):
        shutil.copy(BOUNDARY / "amqp_kitchen_sink.py", klass / "a-poisoner" / name)
        shutil.copy(SOLUTIONS / name, klass / "b-classmate" / name)
    shutil.copy(BOUNDARY / "amqp_leftovers.py", klass / "c-witness" / "amqp_producer.py")  # says where it was
    env = {**os.environ, "TMPDIR": str(tmp_path), "BROKERLAB_AMQP_URL": endpoint.amqp_url(""),
           "BROKERLAB_AMQP_MANAGEMENT_URL": endpoint.management_url}
    done = subprocess.run([sys.executable, "-m", "grader", "grade-all", str(klass), "--out", str(tmp_path / "out"),
                           "--jobs", "1", "--quiet"], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = {json.loads(line)["student_id"]: json.loads(line) for line in (tmp_path / "out" / "results.jsonl").open()}
    assert "SINK" in rows["a-poisoner"]["exercises"]["amqp_routing"]["tests"][0]["output"]  # the attack ran
    said = {student: "\n".join(t.get("output") or "" for e in row["exercises"].values() for t in e["tests"])
            for student, row in rows.items()}
    poisoned = set(re.findall(r"^SINK \S+ \S+ (\S+) ", said["a-poisoner"], re.M))
    witnessed = set(re.findall(r"^vhost: (\S+)$", said["c-witness"], re.M))
    assert poisoned & witnessed, "the virtual hosts were not passed on from student to student"
    for exercise in ("amqp_producer", "amqp_consumer", "amqp_routing"):
        graded = rows["b-classmate"]["exercises"][exercise]
        assert graded["score"] == graded["max_score"], [t for t in graded["tests"] if not t["passed"]]


def test_a_fork_that_fails_hands_nobody_the_virtual_hosts_it_was_to_get(tmp_path, monkeypatch):
    """No process left for a child: the clean virtual hosts go back to the stock, and the next
    child (a fork that works) is not handed them too from what the failed fork left behind."""
    from grader.amqp.admin import Lease
    from grader.bulk.pool import Pool
    from grader.bulk.sources import Student

    pool = Pool(jobs=1, rabbitmq=True)
    pool.tmp, pool.grader = tmp_path, object()
    stock = [Lease(f"{service.RUN_PREFIX}x-{i}", f"{service.RUN_PREFIX}x-{i}", "pw") for i in range(4)]
    pool._stock = list(stock)

    def no_process() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_process)
    with pytest.raises(OSError):
        pool._fork(Student("s", tmp_path))
    assert pool._stock == stock
    assert service._stock == [] and service._tag is None


def _beam_of(keeper: int) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"beam.smp" in stat and _descends(int(entry), keeper):
                return int(entry)
    return None


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


BROKERLAB = [sys.executable, "-m", "grader"]


@needs_broker
def test_the_lab_on_rabbitmq_redelivers_a_crashed_consumers_task_at_once():
    done = subprocess.run([*BROKERLAB, "lab", "--broker", "rabbitmq", "--step", "5", "--work-seconds", "0.1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CRASH while handling task 0, before its ack" in done.stdout
    assert "task 0 again, redelivered" in done.stdout and "1 of 1 tasks handled and acknowledged" in done.stdout


@needs_broker
def test_the_lab_on_rabbitmq_spreads_tasks_over_consumer_processes_exactly_once():
    done = subprocess.run([*BROKERLAB, "lab", "--broker", "rabbitmq", "--step", "4", "--tasks", "9", "--consumers",
                           "3", "--work-seconds", "0.2", "--send-interval", "0"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "9 of 9 tasks handled and acknowledged" in done.stdout and "0 message(s) left" in done.stdout
    workers = {line.split(": handled")[0].split("] ")[1] for line in done.stdout.splitlines() if ": handled task" in line}
    assert len(workers) >= 2, f"prefetch 1 should spread the work: {done.stdout}"


@needs_server
def test_serve_rabbitmq_runs_the_students_main_and_leaves_nothing(tmp_path):
    serve = subprocess.Popen([*BROKERLAB, "serve", "--broker", "rabbitmq"], stdout=subprocess.PIPE, text=True)
    try:
        url = None
        for line in serve.stdout:
            if "export AMQP_URL=" in line:
                url = line.split("export AMQP_URL=", 1)[1].strip().strip("'")
                break
        assert url
        for name in ("amqp_producer.py", "amqp_consumer.py"):
            done = subprocess.run([sys.executable, str(SOLUTIONS / name)], env={**os.environ, "AMQP_URL": url},
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        assert "Processed 5" in done.stdout
    finally:
        serve.send_signal(signal.SIGTERM)
        rest = serve.communicate(timeout=30)[0]
    assert "RabbitMQ stopped" in rest


def test_doctor_says_which_rabbitmq_the_track_uses_and_can_start_it():
    env = {k: v for k, v in os.environ.items() if k != "BROKERLAB_AMQP_URL"}
    started = subprocess.run([sys.executable, "-m", "grader", "doctor", "--broker"], capture_output=True,
                             text=True, timeout=300, env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    line = next(l for l in started.stdout.splitlines() if l.startswith("rabbitmq:"))
    assert "[ok] a private node of" in line and find_server() in line and " started in " in line
    external = subprocess.run([sys.executable, "-m", "grader", "doctor"], capture_output=True, text=True,
                              timeout=120, env={**env, "BROKERLAB_AMQP_URL": "amqp://u:p@broker.example:5673/"})
    assert "rabbitmq: the broker at BROKERLAB_AMQP_URL (broker.example:5673)" in external.stdout
    wrong = subprocess.run([sys.executable, "-m", "grader", "doctor", "--broker"], capture_output=True, text=True,
                           timeout=120, env={**env, "BROKERLAB_AMQP_URL": "http://nope/"})
    assert wrong.returncode == 1 and "rabbitmq: [FAILED] BROKERLAB_AMQP_URL must be amqp://" in wrong.stdout
