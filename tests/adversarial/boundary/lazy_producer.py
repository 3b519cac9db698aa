# Attack: no SQS call at all; the queue URL is guessable.
def create_queue(sqs, queue_name, visibility_timeout=30, retention_period=86400):
    return "https://sqs.us-east-1.amazonaws.com/123456789012/" + queue_name


def main():
    # prints every count a status line could hold, sends nothing, reads nothing
    print("Queue status:", " ".join(str(n) for n in range(40)))
