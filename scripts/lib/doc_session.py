#!/usr/bin/env python3
"""Runs a session a doc shows, command by command, and checks that each command prints what
the doc says it prints. The session is the first code block after the paragraph containing
MARKER in DOC: `$ ` lines are commands, the lines up to the next `$ ` are what it prints, and
a line starting with `# ` is commentary.

The commands run in one shell's state (variables set or exported by one are seen by the next)
in WORK_DIR, with the repository's `events/` linked in and target/debug first on PATH, against
the emulators in the environment (AWS_ENDPOINT_URL, STRIPE_API_BASE).

Matching, line by line (the doc may leave lines out, never add or change one; order is not
checked, as the notices of one batch come in any order):
what differs on every run is read as a wildcard on both sides (UUIDs, PaymentIntent ids,
public keys, timestamps, local ports, ARNs), and a documented line ending in `…` matches any
line that starts with what precedes it. A `--public-key` after a keygen is the one this run's
keygen printed.

Usage: doc_session.py DOC MARKER WORK_DIR [--show] (--show prints what each command printed).
"""
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

VOLATILE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\bpi_[A-Za-z0-9]+"), "<pi>"),
    (re.compile(r"\b[A-Za-z0-9+/]{43}="), "<key>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<time>"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://<local>"),
    (re.compile(r"arn:aws:secretsmanager:[^\s\"]+"), "<arn>"),
    (re.compile(r"\"(duration_ms|received_at_ms)\":\d+"), r'"\1":<n>'),
]


def normal(line):
    for pattern, wildcard in VOLATILE:
        line = pattern.sub(wildcard, line)
    return line.rstrip()


def session(doc, marker):
    """[(command, [documented output lines])] of the block after `marker`."""
    at = doc.find(marker)
    if at < 0:
        sys.exit(f"doc_session: no {marker!r} in the doc")
    m = re.search(r"^```[a-z]*\n(.*?)^```", doc[at:], re.S | re.M)
    if not m:
        sys.exit(f"doc_session: no code block after {marker!r}")
    steps = []
    for line in m.group(1).splitlines():
        if line.startswith("$ "):
            steps.append((line[2:].strip(), []))
        elif line.startswith("# ") or not steps:
            continue
        else:
            steps[-1][1].append(line)
    if not steps:
        sys.exit(f"doc_session: the block after {marker!r} has no `$ ` command")
    return steps


def matches(documented, actual):
    """The first documented line that no printed line matches (each printed line matches one
    documented line at most; in any order, as a batch's notices come), or None."""
    remaining = [normal(a) for a in actual]
    for want in documented:
        want_n = normal(want)
        prefix = want_n[:-1] if want_n.endswith("…") else None
        found = next((i for i, got in enumerate(remaining)
                      if got == want_n or (prefix is not None and got.startswith(prefix))), None)
        if found is None:
            return want
        del remaining[found]
    return None


def main():
    doc_path, marker, work = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
    show = "--show" in sys.argv[4:]
    with open(os.path.join(ROOT, doc_path), encoding="utf-8") as f:
        steps = session(f.read(), marker)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.symlink(os.path.join(ROOT, "events"), os.path.join(work, "events"))
    state = os.path.join(work, ".session-state")
    open(state, "w").close()
    env = dict(os.environ)
    env["PATH"] = f"{ROOT}/target/debug:{ROOT}/.venv/bin:{env['PATH']}"
    public_key = None
    for number, (command, documented) in enumerate(steps, 1):
        if public_key:
            command = re.sub(r"--public-key \S+", f"--public-key {public_key}", command)
        # Every assignment exported, and the shell's exported state kept for the next command.
        script = f"set -a\n. {state}\n{command}\nrc=$?\nexport -p > {state}\nexit $rc\n"
        out = subprocess.run(["bash", "-c", script], cwd=work, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        printed = out.stdout.splitlines()
        if show:
            print(f"$ {command}\n{out.stdout}", end="", flush=True)
        if out.returncode != 0:
            sys.exit(f"doc_session: {doc_path} step {number} failed (exit {out.returncode}): "
                     f"{command}\n{out.stdout[-3000:]}")
        missing = matches(documented, printed)
        if missing is not None:
            sys.exit(f"doc_session: {doc_path} step {number}: `{command}` did not print\n"
                     f"  {missing}\nit printed:\n" + "\n".join(f"  {p}" for p in printed))
        real_key = re.search(r"^kid=\S+ public_key=(\S+)$", out.stdout, re.M)
        if real_key:
            public_key = real_key.group(1)
    print(f"doc_session: {doc_path}: {len(steps)} commands ran and printed what the doc shows")


if __name__ == "__main__":
    main()
