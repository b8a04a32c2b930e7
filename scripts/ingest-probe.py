#!/usr/bin/env python3
"""An ingest client beside the load generator (BENCHMARKS.md, "Ingest under fan-out"): once the
server holds --subscribers WebSocket connections, posts --values values to --dashboard at
--rate a second for --seconds over one kept-alive connection, and prints its answer times.

The load generator's own ingest answers wait in its runtime behind the thousands of sockets it
reads; this probe is another process, so its times are the server's (and the machine's). Half a
period after each post it sends `GET /healthz` on the same connection: the answer time of a
request that does nothing, through the same server on the same saturated machine, is the floor
the ingest times stand on (both wait for the cores: the server's threads and the probe's own).
    scripts/ingest-probe.py --server 127.0.0.1:3900 --subscribers 10000 --seconds 12
"""
import argparse
import http.client
import json
import os
import re
import sys
import time


def connections(server):
    """The server's open WebSocket connections, from /metrics."""
    host = http.client.HTTPConnection(server, timeout=5)
    host.request("GET", "/metrics")
    text = host.getresponse().read().decode()
    found = re.search(r"^livedash_connections (\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="127.0.0.1:3900")
    parser.add_argument("--dashboard", default="loadgen")
    parser.add_argument("--subscribers", type=int, default=0, help="wait until this many are connected")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--values", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    deadline = time.monotonic() + 120
    while connections(args.server) < args.subscribers:
        if time.monotonic() > deadline:
            sys.exit(f"probe: fewer than {args.subscribers} connections after 120 s")
        time.sleep(0.2)
    time.sleep(1)  # the snapshots go out first, as the generator waits for them

    host = http.client.HTTPConnection(args.server, timeout=10)
    headers = {"content-type": "application/json"}
    if os.environ.get("LOADGEN_TOKEN"):  # sign-in on (BENCH_AUTH=1): the generator's token
        headers["authorization"] = "Bearer " + os.environ["LOADGEN_TOKEN"]
    times, floor, failed = [], [], 0

    def timed(method, path, body, into):
        sent = time.monotonic()
        host.request(method, path, body, headers)
        response = host.getresponse()
        response.read()
        into.append((time.monotonic() - sent) * 1000)
        return response.status >= 300

    period = 1.0 / args.rate
    next_post = time.monotonic()
    end = next_post + args.seconds
    while next_post < end:
        time.sleep(max(0.0, next_post - time.monotonic()))
        body = json.dumps({"dashboard": args.dashboard,
                           "metrics": {f"probe_{i}": float(i) for i in range(args.values)}})
        failed += timed("POST", "/api/v1/ingest", body, times)
        time.sleep(max(0.0, next_post + period / 2 - time.monotonic()))
        failed += timed("GET", "/healthz", None, floor)
        next_post += period

    def summary(name, times):
        times.sort()
        at = lambda q: times[min(len(times) - 1, int(q * len(times)))]
        return f"{name:<19} {len(times)}, ms p50 {at(0.5):.1f}  p99 {at(0.99):.1f}  max {times[-1]:.1f}"

    print(summary("probe answers", times) + f" ({failed} failed)")
    print(summary("probe floor", floor) + " (GET /healthz between the posts)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
