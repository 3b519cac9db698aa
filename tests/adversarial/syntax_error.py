def create_queue(sqs, queue_name,
    return (
