#!/usr/bin/env python3
"""Runs the README's "First deployment" commands as written, as far as they go without an AWS
account, in a copy of the repository. The commands are read from README.md itself (the ```sh
block under "### First deployment"); only the README's placeholders are filled in (the public
key keygen printed, a test webhook secret and Stripe key, the secret's ARN).

Where each command's AWS calls go:
- `aws ssm put-parameter`, `payhook keyset put`: moto (AWS_ENDPOINT_URL), which must then hold
  the bundle and a key set the functions load;
- `sam build`: no AWS call; SAM_BUILD_MODE=debug (the same cargo-lambda build of the three
  binaries without the release profile's fat LTO, ~13 minutes on 2 cores), the repository's
  target directory shared;
- `sam deploy --guided` (every question answered with its default): a stand-in for AWS that
  records each request and refuses it with AccessDenied. It must get at least one request, and
  the command must fail with the stand-in's refusal: it went as far as its first AWS call.

Prints what ran and how far. Usage: readme_deploy.py WORK_DIR (moto's AWS_ENDPOINT_URL and the
other emulator variables in the environment; target/debug/payhook built).
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REFUSAL = "payhook readme test: no AWS account here"


def first_deployment_commands(readme):
    """The logical command lines of the block: continuations joined, comments dropped."""
    m = re.search(r"^### First deployment\n.*?^```sh\n(.*?)^```", readme, re.S | re.M)
    if not m:
        sys.exit("readme_deploy: README.md has no ```sh block under '### First deployment'")
    lines, current = [], ""
    for raw in m.group(1).splitlines():
        line = raw.rstrip()
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        lines.append((current + line.strip()).strip())
        current = ""
    return lines


class StandIn(http.server.BaseHTTPRequestHandler):
    """AWS as an account-less caller meets it: every request refused, each one recorded."""

    requests = []

    def _refuse(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        target = self.headers.get("X-Amz-Target")
        StandIn.requests.append(
            {"method": self.command, "path": self.path, "target": target, "body": body[:300]}
        )
        if target:
            payload = json.dumps({"__type": "AccessDeniedException", "message": REFUSAL})
            ctype = "application/x-amz-json-1.0"
        else:
            payload = (
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                f"<Message>{REFUSAL}</Message></Error><RequestId>0</RequestId></ErrorResponse>"
            )
            ctype = "text/xml"
        data = payload.encode()
        self.send_response(403)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _refuse

    def log_message(self, *args):
        pass


def run(cmd, cwd, env, stdin=None):
    print(f"readme_deploy: $ {cmd}", flush=True)
    return subprocess.run(
        ["bash", "-c", cmd], cwd=cwd, env=env, input=stdin, capture_output=True, text=True
    )


def main():
    work = os.path.abspath(sys.argv[1])
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        commands = first_deployment_commands(f.read())

    # A copy of the repository as checked out (tracked and new files), as a newcomer has it.
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        name = name.decode()
        if not os.path.exists(os.path.join(ROOT, name)):
            continue
        os.makedirs(os.path.dirname(os.path.join(work, name)) or work, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), os.path.join(work, name))

    moto = os.environ["AWS_ENDPOINT_URL"]
    env = dict(os.environ)
    env["PATH"] = f"{ROOT}/target/debug:{ROOT}/.venv/bin:{env['PATH']}"
    env["CARGO_TARGET_DIR"] = os.path.join(ROOT, "target")
    env["SAM_CLI_TELEMETRY"] = "0"
    # What the stack creates and step 4 names: the key set secret, created empty.
    secret = json.loads(run(
        "aws secretsmanager create-secret --name readme-deploy-keys --output json", work, env
    ).stdout)["ARN"]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stand_in = f"http://127.0.0.1:{server.server_address[1]}"

    values = {
        "whsec_…": "whsec_readme_deploy",
        "sk_live_…": "sk_live_readme_deploy",
        "<ConsumerKeysSecretArn>": secret,
    }
    ran = []
    for cmd in commands:
        for placeholder, value in values.items():
            cmd = cmd.replace(placeholder, value)
        if re.search(r"<[A-Za-z][A-Za-z0-9_]*>", cmd) or "…" in cmd:
            sys.exit(f"readme_deploy: a placeholder this test does not know in: {cmd}")
        if cmd.startswith("sam deploy"):
            deploy_env = dict(env, AWS_ENDPOINT_URL=stand_in)
            out = run(cmd, work, deploy_env, stdin="\n" * 60)
            said = out.stdout + out.stderr
            if out.returncode == 0 or REFUSAL not in said or not StandIn.requests:
                sys.exit(
                    "readme_deploy: `sam deploy` did not stop at its first AWS call "
                    f"(exit {out.returncode}, {len(StandIn.requests)} requests):\n{said[-3000:]}"
                )
            first = StandIn.requests[0]
            what = first["target"] or first["body"][:120] or first["path"]
            ran.append(
                f"{cmd}: stopped at its first AWS call ({first['method']} {what}; "
                f"{len(StandIn.requests)} request(s) in all), refused by the stand-in"
            )
            continue
        step_env = dict(env, SAM_BUILD_MODE="debug") if cmd.startswith("sam build") else env
        out = run(cmd, work, step_env)
        if out.returncode != 0:
            sys.exit(f"readme_deploy: failed: {cmd}\n{out.stdout[-2000:]}{out.stderr[-3000:]}")
        if cmd.startswith("payhook keygen "):
            key = re.search(r"^kid=\S+ public_key=(\S+)$", out.stdout, re.M)
            if not key:
                sys.exit(f"readme_deploy: keygen printed no public key: {out.stdout}")
            values["<base64>"] = key.group(1)
        ran.append(f"{cmd}: done")

    # What the commands must have left behind.
    bundle = open(os.path.join(work, "acme.bundle")).read().strip()
    stored = json.loads(run(
        "aws ssm get-parameter --name /payhook/subscribers/acme/bundle --output json", work, env
    ).stdout)["Parameter"]["Value"]
    if stored != bundle:
        sys.exit("readme_deploy: the SSM parameter does not hold acme.bundle")
    shown = run(f"payhook keyset show --secret-id {secret}", work, env)
    if shown.returncode != 0 or "key    2026-11 " not in shown.stdout:
        sys.exit(f"readme_deploy: the secret holds no usable key set: {shown.stdout}{shown.stderr}")
    if os.path.exists(os.path.join(work, "keyset.json")):
        sys.exit("readme_deploy: keyset.json is still on disk after the last step")
    if not os.path.isfile(os.path.join(work, ".aws-sam", "build", "template.yaml")):
        sys.exit("readme_deploy: sam build left no .aws-sam/build/template.yaml")
    subprocess.run(["git", "diff", "--quiet", "--no-index", os.path.join(ROOT, "samconfig.toml"),
                    os.path.join(work, "samconfig.toml")], check=True)
    print("readme_deploy: the README's first deployment, command by command:")
    for line in ran:
        print(f"  {line}")
    print(f"  afterwards: the bundle in SSM, a loadable key set in {secret}, keyset.json gone, "
          "samconfig.toml unchanged (moto)")


if __name__ == "__main__":
    main()
