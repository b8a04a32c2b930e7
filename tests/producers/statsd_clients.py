"""Sends StatsD with the `statsd` package and DogStatsD with `datadog`'s client, as any
service would: python statsd_clients.py HOST PORT. Each client batches its lines into one
datagram (a pipeline, a buffer), so each type's per-flush values land in one flush."""
import sys

import statsd
from datadog.dogstatsd import DogStatsd

host, port = sys.argv[1], int(sys.argv[2])

client = statsd.StatsClient(host, port, prefix="shop")
with client.pipeline() as pipe:
    pipe.incr("orders")
    pipe.incr("orders", 4)
    pipe.gauge("queue", 10)
    pipe.gauge("queue", 5, delta=True)
    for ms in range(10, 101, 10):
        pipe.timing("latency", ms)
    pipe.set("users", "ann")
    pipe.set("users", "bob")
    pipe.set("users", "ann")

dog = DogStatsd(host=host, port=port, disable_telemetry=True)
dog.open_buffer()
dog.increment("api.requests", 3, tags=["env:prod", "route:/buy"])
dog.gauge("api.inflight", 7, tags=["env:prod"])
dog.histogram("api.size", 512, tags=["env:prod"])
dog.distribution("api.latency", 20, tags=["env:prod"])
dog.close_buffer()
