"""Exports metrics with the official OpenTelemetry Python SDK to livedash's OTLP/HTTP endpoint:
python otel_sdk.py BASE_URL ENCODING SERVICE, ENCODING `protobuf` (the SDK's OTLP/HTTP
exporter, as shipped) or `json` (the same SDK's export request, encoded as OTLP/JSON by
protobuf's own JSON mapping: the Python SDK ships no JSON exporter). Records a counter, an
up-down counter, an observable gauge and a histogram, then exports once. Prints the answer."""
import json
import sys
import urllib.request

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from google.protobuf.json_format import MessageToJson

base, encoding, service = sys.argv[1], sys.argv[2], sys.argv[3]
resource = Resource.create({"service.name": service, "service.instance.id": "pod-1"})
if encoding == "protobuf":
    exporter = OTLPMetricExporter(endpoint=base + "/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
else:
    reader = InMemoryMetricReader()
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("shop")

orders = meter.create_counter("orders", unit="1", description="orders placed")
orders.add(3, {"region": "eu"})
orders.add(2, {"region": "eu"})
queue = meter.create_up_down_counter("queue.depth")
queue.add(10)
queue.add(-4)
meter.create_observable_gauge("temperature", callbacks=[lambda options: [Observation(21.5, {"room": "lab"})]])
duration = meter.create_histogram("request.duration", unit="ms")
for ms in range(10, 101, 10):
    duration.record(ms)

if encoding == "protobuf":
    if not provider.force_flush(timeout_millis=10_000):
        sys.exit("export failed")
else:
    body = MessageToJson(encode_metrics(reader.get_metrics_data()), use_integers_for_enums=True)
    request = urllib.request.Request(
        base + "/v1/metrics", data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request) as response:
        answer = response.read().decode()
        assert response.headers["Content-Type"] == "application/json", response.headers
        print(json.dumps(json.loads(answer)))
provider.shutdown()
