# Attack: make the grader's own moto loop for ever (in the grading process, outside the box).
# A FIFO queue whose only visible message belongs to a group that is in flight: moto's
# receive_message skips it, and calls Queue.wait_for_messages(1), which the grader replaced by a
# virtual-clock jump that returns at once (without moving the clock) whenever queue.messages is
# non-empty. The clock is frozen (tick=False), so `unix_time() > polling_end` never becomes true.
import boto3

SPIN = True


def spin(sqs):
    url = sqs.create_queue(QueueName="spin.fifo",
                           Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="b", MessageGroupId="g")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0, VisibilityTimeout=600)
    # the group "g" is now pending; "b" is visible but must not be delivered: the grader spins here
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1, VisibilityTimeout=600)


def process_task(message_body):
    spin(boto3.client("sqs"))
    return {}


def consume_messages(sqs, queue_url, handler=process_task, max_messages=10,
                     wait_time_seconds=5, visibility_timeout=30, max_empty_polls=3):
    spin(sqs)
    return {"processed": 0, "failed": 0}


def main():
    spin(boto3.client("sqs"))
