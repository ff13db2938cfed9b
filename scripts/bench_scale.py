"""The measuring half of scripts/bench-scale: signs up, uploads the source once and polls
the API (every 0.2 s) until the video is ready; prints `NAME SECONDS` (upload accepted to ready).

Usage: scripts/bench_scale.py BASE_URL SOURCE NAME
"""
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

BASE, SOURCE, NAME = sys.argv[1], sys.argv[2], sys.argv[3]


def request(method, path, body=None, token=None, content_type="application/json"):
    headers = {"content-type": content_type} if body is not None else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(BASE + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(what, deadline_s, check):
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        try:
            if check():
                return time.monotonic()
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


wait_until("the server", 60, lambda: request("GET", "/readyz")[0] == 200)
account = {"email": f"scale-{NAME}@example.org", "password": "benchmark password", "display_name": "Bench"}
request("POST", "/api/v1/auth/register", json.dumps(account).encode())
status, body = request("POST", "/api/v1/auth/login", json.dumps(account).encode())
token = json.loads(body)["access_token"]

boundary = uuid.uuid4().hex
with open(SOURCE, "rb") as f:
    media = f.read()
form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nScale\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"source.mp4\"\r\n"
        "Content-Type: video/mp4\r\n\r\n").encode() + media + f"\r\n--{boundary}--\r\n".encode()
status, body = request("POST", "/api/v1/uploads", form, token, f"multipart/form-data; boundary={boundary}")
if status != 202:
    sys.exit(f"the upload was refused: {status} {body[:200]!r}")
accepted = time.monotonic()
video = json.loads(body)["id"]


def is_ready():
    status, body = request("GET", f"/api/v1/videos/{video}", token=token)
    state = json.loads(body).get("status")
    if state == "failed":
        sys.exit(f"the video failed: {body[:300]!r}")
    return status == 200 and state == "ready"


ready = wait_until("the video to be ready", 3600, is_ready)
print(f"{NAME} {ready - accepted:.2f}", flush=True)
