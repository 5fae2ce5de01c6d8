#!/usr/bin/env python3
"""Cold start of the consumer binary, with the network stubbed on loopback.

One local HTTP server plays both the Lambda Runtime API and Secrets Manager (GetSecretValue
answers the demo key set at once), so what is measured is the binary: loading, tracing, config,
SDK clients, one loopback call for the key set, and the runtime's first poll.

For each run: spawn the binary, time until its first `GET .../invocation/next` ("init"), hand it
events/sqs/ignored.json (envelope, uncached bundle open, signature, event parse, notice; no
Stripe or DynamoDB call) and time until it posts the response ("first event"), check the
response, read the peak RSS, kill it. Binaries are taken in turn within each round, so a noisy
machine hurts them alike.

Usage: [SECRET_DELAY_MS=N] cold_start.py ROUNDS LABEL=BINARY [LABEL=BINARY ...]
"""
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYSET = (ROOT / "events/demo-keyset.json").read_text()
EVENT = (ROOT / "events/sqs/ignored.json").read_bytes()
NEXT = "/2018-06-01/runtime/invocation/next"
# Stands for Secrets Manager's round trip from a Lambda (a new TLS connection and the call);
# 0 measures the binary alone.
SECRET_DELAY_S = float(os.environ.get("SECRET_DELAY_MS", "0")) / 1000


class Run:
    """What the stub saw of one process."""

    def __init__(self):
        self.ready = None
        self.responded = None
        self.response = None
        self.done = threading.Event()


class Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        run = self.server.run
        if self.path != NEXT:
            return self.reply(404, b"")
        if run.ready is not None:
            # Later polls wait for the kill: only the first event is measured.
            run.done.wait(30)
            return self.reply(500, b"")
        run.ready = time.perf_counter()
        deadline_ms = int(time.time() * 1000) + 60_000
        self.reply(
            200,
            EVENT,
            [
                ("Lambda-Runtime-Aws-Request-Id", "cold-start-1"),
                ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                ("Lambda-Runtime-Invoked-Function-Arn",
                 "arn:aws:lambda:us-east-1:123456789012:function:payhook"),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
                ("Content-Type", "application/json"),
            ],
        )

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        run = self.server.run
        if self.headers.get("X-Amz-Target") == "secretsmanager.GetSecretValue":
            time.sleep(SECRET_DELAY_S)
            answer = {
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:payhook-keys",
                "Name": "payhook-keys",
                "SecretString": KEYSET,
                "VersionId": "v1",
            }
            return self.reply(200, json.dumps(answer).encode(),
                              [("Content-Type", "application/x-amz-json-1.1")])
        if self.path.endswith("/response"):
            run.responded = time.perf_counter()
            run.response = body
            self.reply(202, b"")
            run.done.set()
            return
        if self.path.endswith("/error"):
            run.response = body
            self.reply(202, b"")
            run.done.set()
            return
        self.reply(404, b"")


def peak_rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def stub_server(run):
    """A server of its own for each run: a request the previous process sent just before it
    was killed must not be taken for this one's first poll."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    server.daemon_threads = True
    server.run = run
    # A killed process leaves its held poll to fail: expected, not worth a traceback.
    server.handle_error = lambda request, address: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(binary):
    run = Run()
    server = stub_server(run)
    port = server.server_address[1]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "payhook",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PAYMENTS_TABLE": "payhook-payments",
        "IDEMPOTENCY_TABLE": "payhook-idempotency",
        "UNAPPLIED_TABLE": "payhook-unapplied",
        "NOTIFICATIONS_TABLE": "payhook-notifications",
        "KEYSET_SECRET_ID": "payhook-keys",
        # The demo bundle's key is a test key: the first event goes the ignored path, as
        # measured before modes existed, not the key-mode refusal.
        "PAYHOOK_MODE": "test",
    }
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    logs = queue.Queue()
    threading.Thread(target=lambda: logs.put(proc.stdout.read()), daemon=True).start()
    finished = run.done.wait(30)
    peak = peak_rss_kib(proc.pid)
    proc.kill()
    proc.wait()
    run.done.set()
    server.shutdown()
    server.server_close()
    output = logs.get(timeout=10).decode(errors="replace")
    if not finished or run.responded is None:
        sys.exit(f"{binary}: no response to the first event; its output:\n{output}")
    if json.loads(run.response) != {"batchItemFailures": []}:
        sys.exit(f"{binary}: unexpected response {run.response!r}; output:\n{output}")
    if '"outcome":"ignored"' not in output:
        sys.exit(f"{binary}: no 'ignored' notice for the sample event; output:\n{output}")
    return (run.ready - started) * 1000, (run.responded - run.ready) * 1000, peak


def zipped_mb(binary):
    """The deployment zip's size: the binary as `bootstrap`, deflated as SAM and cargo-lambda do."""
    out = Path(binary).with_suffix(".zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(binary, "bootstrap")
    size = out.stat().st_size / 1e6
    out.unlink()
    return size


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    targets = [arg.split("=", 1) for arg in sys.argv[2:]]
    results = {label: [] for label, _ in targets}
    for label, binary in targets:  # warm the page cache, not measured
        measure(binary)
    for _ in range(rounds):
        for label, binary in targets:
            results[label].append(measure(binary))
    base = statistics.median(r[0] for r in results[targets[0][0]])
    print(f"cold start, medians of {rounds} runs each, measured in one run "
          f"(ratios against {targets[0][0]}):")
    print(f"  {'build':<22} {'size MB':>8} {'zip MB':>7} {'init ms':>8} {'ratio':>6} "
          f"{'1st event ms':>12} {'peak RSS MB':>11}")
    for label, binary in targets:
        init = statistics.median(r[0] for r in results[label])
        first = statistics.median(r[1] for r in results[label])
        peak = statistics.median(r[2] or 0 for r in results[label]) / 1024
        size = os.path.getsize(binary) / 1e6
        print(f"  {label:<22} {size:8.1f} {zipped_mb(binary):7.1f} {init:8.2f} "
              f"{init / base:6.2f} {first:12.2f} {peak:11.1f}")


if __name__ == "__main__":
    main()
