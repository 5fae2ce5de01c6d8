#!/usr/bin/env python3
"""moto's server, handling one request at a time.

moto's TransactWriteItems deep-copies the tables when a transaction starts and puts that copy
back when the transaction is cancelled. With moto_server's threads, a cancelled transaction
can thereby erase a write that a concurrent transaction had already committed (seen here: one
consumer "credited", the other a "duplicate", and no record left). Real DynamoDB serializes
conflicting transactions, so we serialize requests to get DynamoDB's semantics back; moto
answers in milliseconds, so the tests hardly notice.

Usage: moto_serialized.py PORT
"""
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialized(environ, start_response):
    with lock:
        # Drain the response inside the lock: the work happens while it is produced.
        return list(app(environ, start_response))


run_simple("127.0.0.1", port, serialized, threaded=True, request_handler=MotoRequestHandler)
