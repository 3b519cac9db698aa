"""Uses its boto3 client for everything but SQS: other services, moto's admin API, another host
(the port of a listener the test runs on the host's loopback), and SQS actions the exercises
do not need. Whatever answers is printed, and each function returns what it could learn."""
import json

import boto3
import botocore.session

PORT = "__PORT__"
tried = []


def attempt(label, fn):
    try:
        tried.append((label, "answered", str(fn())[:200]))
    except Exception as exc:
        tried.append((label, "refused", f"{type(exc).__name__}: {exc}"[:200]))


def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    attempt("s3", lambda: boto3.client("s3", region_name="us-east-1").list_buckets())
    attempt("sts", lambda: boto3.client("sts", region_name="us-east-1").get_caller_identity())
    attempt("lambda", lambda: boto3.client("lambda", region_name="us-east-1").list_functions())
    attempt("loopback", lambda: boto3.client("sqs", region_name="us-east-1",
                                              endpoint_url=f"http://127.0.0.1:{PORT}").list_queues())
    attempt("admin", lambda: boto3.client("sqs", region_name="us-east-1",
                                           endpoint_url="http://motoapi.amazonaws.com").list_queues())
    attempt("delete", lambda: sqs.delete_queue(QueueUrl=sqs.create_queue(QueueName="x")["QueueUrl"]))
    attempt("tag", lambda: sqs.tag_queue(QueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/x",
                                         Tags={"a": "b"}))
    session = botocore.session.get_session()

    def raw(path):
        from botocore.awsrequest import AWSRequest
        request = AWSRequest(method="POST", url=f"https://sqs.us-east-1.amazonaws.com{path}", data=b"{}",
                             headers={"Content-Type": "application/x-amz-json-1.0",
                                      "X-Amz-Target": "AmazonSQS.ListQueues"})
        return sqs._endpoint.http_session.send(request.prepare()).status_code

    attempt("moto-api", lambda: raw("/moto-api/reset"))
    attempt("recorder", lambda: raw("/moto-api/recorder/start-recording"))
    print(json.dumps(tried))
    raise RuntimeError(json.dumps(tried))


make_task = send_task = queue_status = main = create_queue
