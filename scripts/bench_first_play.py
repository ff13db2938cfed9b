"""The measuring half of scripts/bench-first-play: signs up, then RUNS times uploads the
source and polls the API and the streamer (every 0.2 s) until the video is playable and
until it is ready; prints each run and the medians.

Usage: scripts/bench_first_play.py BASE_URL SOURCE SECONDS RUNS
"""
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid

BASE, SOURCE, SECONDS, RUNS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def request(method, path, body=None, token=None, content_type="application/json"):
    headers = {"content-type": content_type} if body is not None else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(BASE + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
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


wait_until("the server", 30, lambda: request("GET", "/readyz")[0] == 200)
account = {"email": "first-play@example.org", "password": "benchmark password", "display_name": "Bench"}
request("POST", "/api/v1/auth/register", json.dumps(account).encode())
status, body = request("POST", "/api/v1/auth/login", json.dumps(account).encode())
token = json.loads(body)["access_token"]

boundary = uuid.uuid4().hex
with open(SOURCE, "rb") as f:
    media = f.read()
form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nFirst play\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"source.mp4\"\r\n"
        "Content-Type: video/mp4\r\n\r\n").encode() + media + f"\r\n--{boundary}--\r\n".encode()


def upload():
    """Uploads the source; returns the video's id and when the upload was accepted."""
    status, body = request("POST", "/api/v1/uploads", form, token, f"multipart/form-data; boundary={boundary}")
    if status != 202:
        sys.exit(f"the upload was refused: {status} {body[:200]!r}")
    return json.loads(body)["id"], time.monotonic()


def video():
    return json.loads(request("GET", f"/api/v1/videos/{video_id}", token=token)[1])


def playable():
    """The master and the first segment of every variant (and the audio) are served."""
    state = video()
    if state["status"] == "failed":
        sys.exit(f"the video failed: {state['error']}")
    if not state.get("master_url"):
        return False
    master_url = state["master_url"]
    status, master = request("GET", master_url)
    if status != 200:
        return False
    base = master_url.rsplit("/", 1)[0]
    lines = master.decode().splitlines()
    playlists = [line for line in lines if line and not line.startswith("#")]
    playlists += [part.split('"')[1] for line in lines if line.startswith("#EXT-X-MEDIA") for part in
                  line.split(",") if part.startswith("URI=")]
    for playlist in playlists:
        status, body = request("GET", f"{base}/{playlist}")
        segments = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
        if status != 200 or not segments:
            return False
        rendition = playlist.rsplit("/", 1)[0]
        if request("GET", f"{base}/{rendition}/{segments[0]}")[0] != 200:
            return False
    return True


deadline = 60 * float(SECONDS)
first_plays, readies = [], []
for run in range(1, RUNS + 1):
    video_id, accepted = upload()
    first_plays.append(wait_until("the video to be playable", deadline, playable) - accepted)
    readies.append(wait_until("the video to be ready", deadline, lambda: video()["status"] == "ready") - accepted)
    print(f"run {run}: first playable {first_plays[-1]:.2f} s, ready {readies[-1]:.2f} s, "
          f"ratio {first_plays[-1] / readies[-1]:.4f}", flush=True)
first_play, ready = statistics.median(first_plays), statistics.median(readies)
ratio = first_play / ready
target = 0.15 if float(SECONDS) <= 60 else 0.05
ladder = os.environ.get("STREAMBOX_LADDER", "default (1080/720/480/360/240)")
loudness = os.environ.get("STREAMBOX_LOUDNESS", "-16")
print(f"\nsource: {SECONDS} s 1080p30 (noisy, 12 Mb/s), ladder {ladder}, loudness {loudness}, x264 veryfast, "
      f"{RUNS} runs (medians)")
print(f"upload accepted -> first playable (master + first segment of every variant served): {first_play:.2f} s")
print(f"upload accepted -> ready: {ready:.2f} s")
print(f"first playable / ready = {ratio:.4f}   (target <= {target}: {'met' if ratio <= target else 'missed'})")
