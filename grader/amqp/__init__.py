"""The AMQP track's broker: a private RabbitMQ node (``node``), its administration and per-test
virtual hosts (``admin``), AMQP 0-9-1 frames (``frames``), the student's one relayed and logged
connection (``relay``), the run's broker (``service``) and installing rabbitmq-server (``install``)."""
