"""Writes to livedash with the official InfluxDB v2 Python client, as a user's program would.

Usage: influx_client.py <url> <token>. Exits non-zero if any write is refused.
"""

import sys
from datetime import datetime, timezone

from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

url, token = sys.argv[1], sys.argv[2]

with InfluxDBClient(url=url, token=token, org="any", enable_gzip=False) as client:
    write_api = client.write_api(write_options=SYNCHRONOUS)
    # Point objects: tags, float and integer fields, a timestamp in seconds.
    point = (
        Point("weather")
        .tag("room", "office")
        .field("temperature", 21.5)
        .field("humidity", 40)
        .time(datetime.now(timezone.utc), WritePrecision.S)
    )
    write_api.write(bucket="pyclient", record=point)
    # Line protocol text, with escapes and a string field.
    write_api.write(bucket="pyclient", record='text lines=3i,label="a \\"quoted\\" word"')

with InfluxDBClient(url=url, token=token, org="any", enable_gzip=True) as client:
    # A gzip-compressed batch of many points.
    write_api = client.write_api(write_options=SYNCHRONOUS)
    records = [f"batch n={i} {1_700_000_000 + i}" for i in range(1000)]
    write_api.write(bucket="pyclient", record=records, write_precision=WritePrecision.S)

print("ok")
