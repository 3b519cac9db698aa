"""Exercise 2: class-based SQS consumer with batch acknowledgements.

``TaskConsumer.messages()`` is a generator that long-polls the queue and yields
one message at a time.  Messages whose handler returned are queued for
acknowledgement, and acknowledged together with one DeleteMessageBatch call
before the next receive (and once more at the end).

Entries that DeleteMessageBatch reports as Failed are not retried by hand and
are not counted as processed: they stay undeleted, so the broker redelivers
them after the visibility timeout, which is the retry.
"""

import json
import random
import time

import boto3

TASK_TYPES = ("resize_image", "send_email", "process_order", "generate_report")


def process_task(message_body: str) -> dict:
    """Return the decoded task, or raise ValueError if the body is not a valid task."""
    try:
        task = json.loads(message_body)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"undecodable message body: {exc}") from exc

    checks = (
        (isinstance(task, dict), "body is not a JSON object"),
        (isinstance(task, dict) and isinstance(task.get("taskType"), str)
         and task.get("taskType") in TASK_TYPES, "taskType missing or unknown"),
        (isinstance(task, dict) and isinstance(task.get("data"), dict), "data is not an object"),
        (isinstance(task, dict) and isinstance(task.get("timestamp"), str), "timestamp is not a string"),
    )
    for ok, reason in checks:
        if not ok:
            raise ValueError(reason)
    return task


class TaskConsumer:
    """A manual-ack consumer for one SQS queue."""

    def __init__(self, sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                 wait_time_seconds: int = 5, visibility_timeout: int = 30,
                 max_empty_polls: int = 3):
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.max_messages = max_messages
        self.wait_time_seconds = wait_time_seconds
        self.visibility_timeout = visibility_timeout
        self.max_empty_polls = max_empty_polls

        self.processed = 0          # handled AND deleted
        self.failed = 0             # deliveries whose handler raised
        self._to_ack = []           # handled, not yet deleted

    # -- acknowledgements -------------------------------------------------

    def _flush_acks(self) -> None:
        """Delete every handled message in one DeleteMessageBatch call (<= 10 entries)."""
        if not self._to_ack:
            return
        pending, self._to_ack = self._to_ack, []

        for start in range(0, len(pending), 10):
            chunk = pending[start:start + 10]
            entries = [{"Id": f"msg-{i}", "ReceiptHandle": m["ReceiptHandle"]}
                       for i, m in enumerate(chunk)]
            try:
                response = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:
                print(f"  ! DeleteMessageBatch failed ({exc!r}); "
                      f"{len(entries)} message(s) stay undeleted and will be redelivered")
                continue

            failed_ids = {f.get("Id") for f in (response.get("Failed") or [])}
            for f in response.get("Failed") or []:
                print(f"  ! ack failed for {f.get('Id')}: {f.get('Code')} {f.get('Message', '')}"
                      " - left undeleted, the broker will redeliver it")
            acked = sum(1 for e in entries if e["Id"] not in failed_ids)
            self.processed += acked
            print(f"  acknowledged {acked} message(s) in one batch "
                  f"(processed {self.processed}/{self.max_messages})")

    # -- receiving ------------------------------------------------------------

    def messages(self):
        """Yield received messages one by one until done or the queue stays empty."""
        empty_in_a_row = 0
        while True:
            self._flush_acks()  # ack what the previous batch finished before asking for more
            remaining = self.max_messages - self.processed
            if remaining <= 0:
                return
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, remaining),
                WaitTimeSeconds=self.wait_time_seconds,
                VisibilityTimeout=self.visibility_timeout,
            )
            batch = response.get("Messages") or []
            print(f"received {len(batch)} message(s) (asked for {min(10, remaining)})")
            if not batch:
                empty_in_a_row += 1
                if empty_in_a_row >= self.max_empty_polls:
                    return
                continue
            empty_in_a_row = 0
            yield from batch

    # -- the loop -------------------------------------------------------------

    def run(self) -> dict:
        print(f"TaskConsumer on {self.queue_url}")
        try:
            for message in self.messages():
                if self.processed + len(self._to_ack) >= self.max_messages:
                    continue  # more than we asked for: leave it to be redelivered
                try:
                    self.handler(message["Body"])
                except Exception as exc:
                    self.failed += 1
                    print(f"  x handler raised {exc!r}; message not acknowledged")
                    continue
                self._to_ack.append(message)
        finally:
            self._flush_acks()
        print(f"TaskConsumer done: processed={self.processed} failed={self.failed}")
        return {"processed": self.processed, "failed": self.failed}


def consume_messages(sqs, queue_url: str, handler=process_task, max_messages: int = 10,
                     wait_time_seconds: int = 5, visibility_timeout: int = 30,
                     max_empty_polls: int = 3) -> dict:
    return TaskConsumer(sqs, queue_url, handler=handler, max_messages=max_messages,
                        wait_time_seconds=wait_time_seconds,
                        visibility_timeout=visibility_timeout,
                        max_empty_polls=max_empty_polls).run()


class SimulatedWorker:
    """Step 2's handler: decode the task, work 2 seconds, fail 10% of the time."""

    failure_rate = 0.1
    work_seconds = 2

    def __call__(self, message_body: str) -> dict:
        task = process_task(message_body)
        print(f"  processing {task['taskType']}: {task['data']}")
        time.sleep(self.work_seconds)
        if random.random() < self.failure_rate:
            raise RuntimeError("Simulated processing error!")
        return task


def main() -> None:
    sqs = boto3.client("sqs", region_name=boto3.session.Session().region_name or "us-east-1")
    queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
    consumer = TaskConsumer(sqs, queue_url, handler=SimulatedWorker(), max_messages=10)
    print(consumer.run())


if __name__ == "__main__":
    main()
