"""moto's DynamoDB alone, served with keep-alive: the stand-in for DynamoDB in the writer benchmark.

    python -m tests.support.moto_dynamodb --port 5010 [--host 127.0.0.1] [--threads 1]

`moto_server` serves every moto service through werkzeug's development server, which closes the
connection after every response (a new TCP connection and server thread per request) and, for each
request, works out the service by listing moto's ~200 service packages under one lock. DynamoDB
keeps connections alive and has no such step. Both costs land on the one Python process that
plays the database, so they cap any client, and most of all a concurrent one. This serves the same
moto DynamoDB application (`moto.server.create_backend_app("dynamodb")`: the same request parsing,
validation and storage) with waitress, a production WSGI server that keeps connections alive.
One worker thread by default: moto is CPU-bound Python under one GIL, so more workers add no
throughput (`bench/dynamo_writer.py 10000 --latency-ms 0 --server-threads 1` or `8`, twice each,
the batch writer on 8 threads, 2 cores: 3,420-3,737 items/s with one worker, 3,390-3,724 with
eight). Only DynamoDB is served; tests that also need S3 or ECS use `moto_server`.
"""

from __future__ import annotations

import argparse
import logging
import os

from tests.support.moto_server import DUMMY_CREDENTIALS


def serve(host: str, port: int, threads: int = 1) -> None:
    """Serve moto's DynamoDB on host:port until the process is stopped."""
    from moto.server import create_backend_app
    from waitress import serve as waitress_serve

    # waitress warns of every queued request ("Task queue depth is N"); a busy stand-in is expected
    logging.getLogger("waitress").setLevel(logging.ERROR)
    for name, value in DUMMY_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    waitress_serve(create_backend_app("dynamodb"), host=host, port=port, threads=threads, _quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    serve(args.host, args.port, args.threads)


if __name__ == "__main__":
    main()
