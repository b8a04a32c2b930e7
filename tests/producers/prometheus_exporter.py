"""A service exposing metrics with the official Python `prometheus-client`, as such services do:
python prometheus_exporter.py PORT. Serves a counter, a gauge, a histogram and a summary with
fixed values on 127.0.0.1:PORT/metrics (text format, or OpenMetrics when asked), until killed."""
import sys
import time

from prometheus_client import Counter, Gauge, Histogram, Summary, start_http_server

port = int(sys.argv[1])
orders = Counter("shop_orders", "Orders placed", ["region"])
orders.labels(region="eu").inc(7)
queue = Gauge("shop_queue_depth", "Jobs waiting")
queue.set(4)
latency = Histogram("shop_latency_seconds", "Request latency", buckets=[0.1, 0.5, 1.0])
for seconds in [0.05, 0.2, 0.3, 0.7]:
    latency.observe(seconds)
size = Summary("shop_payload_bytes", "Payload sizes")
size.observe(100)
start_http_server(port, addr="127.0.0.1")
print("ready", flush=True)
while True:
    time.sleep(3600)
