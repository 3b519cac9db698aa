"""moto's shortcuts (grader.harness.moto_speed) keep what moto would say: the same shapes, drawn
from the same seeded generator, so a run stays deterministic."""
from __future__ import annotations

import string

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
