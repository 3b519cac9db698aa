"""moto's shortcuts (grader.harness.moto_speed) keep what moto would say: the same shapes, drawn
from the same seeded generator, so a run stays deterministic."""
from __future__ import annotations

import string

import pytest

from moto.moto_api._internal import mock_random

from grader.harness.moto_speed import REQUEST_ID_LENGTH, RECEIPT_LENGTH, fast_receipt_handle, fast_request_id


def test_a_receipt_handle_is_what_moto_makes_and_follows_the_seed():
    mock_random.seed("course/test")
    first = [fast_receipt_handle() for _ in range(50)]
    mock_random.seed("course/test")
    again = [fast_receipt_handle() for _ in range(50)]
    assert first == again
    assert len(set(first)) == 50
    assert all(len(h) == RECEIPT_LENGTH == 185 and set(h) <= set(string.ascii_lowercase) for h in first)
    assert set("".join(first)) == set(string.ascii_lowercase)  # every letter is drawn


def test_a_request_id_is_what_moto_makes_and_follows_the_seed():
    mock_random.seed("course/ids")
    headers: dict = {}
    first = [fast_request_id(headers) for _ in range(200)]
    mock_random.seed("course/ids")
    assert [fast_request_id() for _ in range(200)] == first
    assert headers == {"x-amzn-requestid": first[-1]}
    alphabet = set(string.ascii_letters + string.digits)
    assert all(len(i) == REQUEST_ID_LENGTH == 52 and set(i) <= alphabet for i in first)
    assert set("".join(first)) == alphabet and len(set(first)) == 200


def test_every_response_carries_such_a_request_id():
    """Applied to moto's responses: a student's client reads a 52-character id, as from moto."""
    import boto3
    from moto import mock_aws

    from grader.harness import moto_speed

    moto_speed.apply()
    import moto.core.responses

    assert moto.core.responses.gen_amzn_requestid_long is fast_request_id
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
        ids = [sqs.list_queues()["ResponseMetadata"]["RequestId"] for _ in range(3)]
    assert len(set(ids)) == 3 and all(len(i) == 52 and i.isalnum() for i in ids)


def test_each_requests_action_name_is_converted_once_and_as_moto_converts_it():
    """moto turns every request's action (``ReceiveMessage``) into a method name; the cached
    conversion gives moto's own answer, and moto's dispatch uses it."""
    import boto3
    from moto import mock_aws

    from grader.harness import moto_speed
    from grader.harness.broker import ACTIONS

    moto_speed.apply()
    import moto.core.responses
    import moto.core.utils

    cached = moto.core.responses.camelcase_to_underscores
    original = cached.__wrapped__
    assert all(cached(action) == original(action) for action in ACTIONS | {"ListQueues", "X", "aB"})
    assert cached("ChangeMessageVisibilityBatch") == "change_message_visibility_batch"
    before = cached.cache_info().hits
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
        for _ in range(3):
            sqs.list_queues()
    assert cached.cache_info().hits >= before + 2


REQUESTS = [  # (url, headers, body): what botocore sends, and what a student's own hooks could make of it
    ("https://sqs.us-east-1.amazonaws.com/", {
        "X-Amz-Target": "AmazonSQS.SendMessage", "Content-Type": "application/x-amz-json-1.0",
        "User-Agent": "Boto3/1.40 md/Botocore#1.40", "X-Amz-Date": "20240101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs/aws4_request, "
                         "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "amz-sdk-invocation-id": "e0c8", "amz-sdk-request": "attempt=1", "Content-Length": "99"},
     b'{"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "MessageBody": "x"}'),
    ("http://sqs-iris58.brokerlab.test:7106/123456789012/orders", {
        "x-amz-target": "AmazonSQS.ReceiveMessage", "content-type": "application/x-amz-json-1.0",
        "CONTENT-TYPE": "text/plain", "X-Custom": "a", "x-custom": "b", "x-amz-meta-my_key": "v",
        "X-Note": "caf\u00e9 \u2603", "Empty": ""}, '{"MaxNumberOfMessages": 10}'.encode()),
    ("https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo/", {"Content-Length": "3"}, b"{}\n"),
    ("http://sqs-iris58.brokerlab.test:7106/", {"Host": "elsewhere.test", "Content_Length": "9", "content-length": "x",
                                               "Content-Encoding": "gzip", "REQUEST_METHOD": "GET"}, b"{}"),
    ("https://SQS.us-east-1.amazonaws.com:443/", {"X-Amz-Target": "AmazonSQS.ListQueues"}, b"{}"),
    ("https://sqs.us-east-1.amazonaws.com/", {"X-Amz-Target": "AmazonSQS.ListQueues"}, b""),
    ("https://sqs.us-east-1.amazonaws.com/a%20b", {"X-Amz-Target": "AmazonSQS.ListQueues"}, b"{}"),
    # what a differential fuzzer found (the first two reach moto through the broker's checks)
    ("http://sqs-iris12.brokerlab.test:05547/", {"X-Amz-Target": "AmazonSQS.ListQueues"}, b"{}"),
    ("https://sqs." + "b" * 64 + ".amazonaws.com/", {"X-Amz-Target": "AmazonSQS.ListQueues"}, b"{}"),
    ("https://sqs.us-east-1.amazonaws.com/", {"Transfer-Encoding": "chunked"}, b"{}"),
    ("https://sqs.us-east-1.amazonaws.com:65536/", {"X-Amz-Target": "AmazonSQS.ListQueues"}, b"{}"),
    ("https://sqs.us-east-1.amazonaws.com//", {"X-Amz-Target": "AmazonSQS.ListQueues"}, b"{}"),
]


def _environ(request):
    environ = dict(request.environ)
    environ["wsgi.input"] = environ["wsgi.input"].getvalue()
    environ.pop("werkzeug.request")  # the request itself
    return environ


@pytest.mark.parametrize("url, headers, body", REQUESTS)
def test_the_request_moto_reads_is_the_one_its_own_builder_makes(url, headers, body):
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.compat import HTTPHeaders
    from moto.core.request import normalize_request

    from grader.harness.moto_speed import request

    http_headers = HTTPHeaders()
    for key, value in headers.items():
        http_headers[key] = value
    try:
        theirs = normalize_request(AWSPreparedRequest(method="POST", url=url, headers=http_headers, body=body,
                                                      stream_output=False))
    except ValueError as refused:  # moto refuses it: so must the shortcut
        with pytest.raises(type(refused)):
            request("POST", url, list(headers.items()), body)
        return
    ours = request("POST", url, list(headers.items()), body)
    assert list(_environ(ours).items()) == list(_environ(theirs).items())
    assert (ours.headers.get("x-amz-target"), ours.content_type, ours.path, ours.host, ours.get_data()) == \
        (theirs.headers.get("x-amz-target"), theirs.content_type, theirs.path, theirs.host, theirs.get_data())


def test_a_header_value_with_a_line_break_is_refused_as_moto_refuses_it():
    from grader.harness.moto_speed import request

    with pytest.raises(ValueError, match="newline"):
        request("POST", "https://sqs.us-east-1.amazonaws.com/", [("X-Evil", "a\r\nX-Amz-Target: b")], b"{}")
