"""Load driver for scripts/bench-load: viewers reading playlists and segments of ready
videos, first alone (the baseline) and then while a burst of uploads (tus and multipart,
mixed) arrives and is transcoded. Prints per-route p50/p99 and errors for both phases,
the p99 ratio, the server's peak RSS and the time until every upload is ready.

usage: bench_load.py BASE TOKEN CLIP SERVER_PID VIDEO_IDS_JSON [READERS=500] [UPLOADS=100] [BASELINE_S=15]
"""

import asyncio
import base64
import json
import random
import sys
import time
from collections import defaultdict

import aiohttp

READY_DEADLINE_S = 1800


class Stats:
    def __init__(self):
        self.latencies = defaultdict(list)
        self.errors = defaultdict(int)
        self.error_samples = []

    def record(self, route, started, ok, detail=""):
        self.latencies[route].append(time.monotonic() - started)
        if not ok:
            self.errors[route] += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(f"{route}: {detail}")


async def timed(stats, route, request, expect):
    started = time.monotonic()
    try:
        async with request() as response:
            body = await response.read()
            ok = response.status in expect
            stats.record(route, started, ok, f"{response.status} {body[:200]!r}")
            return body if ok else None
    except Exception as e:  # a refused or reset connection is an error like any other
        stats.record(route, started, False, repr(e))
        return None


def lines(body):
    return [l for l in body.decode().splitlines() if l and not l.startswith("#")]


async def viewer(session, base, videos, stop, stats):
    while not stop.is_set():
        video = random.choice(videos)
        prefix = f"{base}/hls/{video}/"
        master = await timed(stats, "GET master.m3u8", lambda: session.get(prefix + "master.m3u8"), {200})
        if master is None:
            continue
        variant = random.choice(lines(master))
        playlist = await timed(stats, "GET variant index.m3u8", lambda: session.get(prefix + variant), {200})
        if playlist is None:
            continue
        segment = prefix + variant.rsplit("/", 1)[0] + "/" + random.choice(lines(playlist))
        await timed(stats, "GET segment .ts", lambda: session.get(segment), {200})


async def multipart_upload(session, base, auth, clip, n, stats):
    def request():
        form = aiohttp.FormData()
        form.add_field("title", f"Load {n}")
        form.add_field("file", clip, filename="clip.mp4", content_type="video/mp4")
        return session.post(f"{base}/api/v1/uploads", data=form, headers=auth)

    body = await timed(stats, "POST uploads (multipart)", request, {202})
    return json.loads(body)["id"] if body else None


async def tus_upload(session, base, auth, clip, n, stats):
    title = base64.b64encode(f"Load {n}".encode()).decode()
    tus = {**auth, "Tus-Resumable": "1.0.0"}
    create = {**tus, "Upload-Length": str(len(clip)), "Upload-Metadata": f"title {title}"}
    started = time.monotonic()
    try:
        async with session.post(f"{base}/api/v1/uploads/tus", headers=create) as response:
            await response.read()
            ok = response.status == 201
            stats.record("POST uploads/tus", started, ok, str(response.status))
            if not ok:
                return None
            location = response.headers["Location"]
    except Exception as e:
        stats.record("POST uploads/tus", started, False, repr(e))
        return None
    half = len(clip) // 2
    for offset, chunk in ((0, clip[:half]), (half, clip[half:])):
        patch = {**tus, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        done = await timed(stats, "PATCH uploads/tus/{id}", lambda: session.patch(base + location, data=chunk, headers=patch), {204})
        if done is None:
            return None
    return location.rsplit("/", 1)[1]


async def until_ready(session, base, auth, ids, stats):
    pending, failed = set(ids), []
    deadline = time.monotonic() + READY_DEADLINE_S
    while pending and time.monotonic() < deadline:
        for video in list(pending):
            body = await timed(stats, "GET videos/{id}", lambda: session.get(f"{base}/api/v1/videos/{video}", headers=auth), {200})
            status = json.loads(body)["status"] if body else None
            if status in ("ready", "failed"):
                pending.discard(video)
                if status == "failed":
                    failed.append(video)
        await asyncio.sleep(1)
    return pending, failed


async def read_phase(base, videos, readers, stop, stats):
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(viewer(session, base, videos, stop, stats) for _ in range(readers)))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def report(title, stats):
    print(f"\n{title}")
    print(f"  {'route':28} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for route in sorted(stats.latencies):
        values = stats.latencies[route]
        print(f"  {route:28} {len(values):9d} {percentile(values, 50):8.1f} {percentile(values, 99):8.1f} {stats.errors[route]:7d}")
    for sample in stats.error_samples:
        print(f"  error: {sample}")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def main():
    base, token, clip_path, pid, videos = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
    readers = int(sys.argv[6]) if len(sys.argv) > 6 else 500
    uploads = int(sys.argv[7]) if len(sys.argv) > 7 else 100
    baseline_s = float(sys.argv[8]) if len(sys.argv) > 8 else 15
    clip = open(clip_path, "rb").read()
    auth = {"Authorization": f"Bearer {token}"}

    alone = Stats()
    stop = asyncio.Event()
    reading = asyncio.create_task(read_phase(base, videos, readers, stop, alone))
    await asyncio.sleep(baseline_s)  # the length of the baseline phase
    stop.set()
    await reading

    loaded, stop = Stats(), asyncio.Event()
    reading = asyncio.create_task(read_phase(base, videos, readers, stop, loaded))
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=300)) as session:
        senders = [(tus_upload if n % 2 else multipart_upload)(session, base, auth, clip, n, loaded) for n in range(uploads)]
        ids = [video for video in await asyncio.gather(*senders) if video]
        accepted_s = time.monotonic() - started
        pending, failed = await until_ready(session, base, auth, ids, loaded)
    ready_s = time.monotonic() - started
    stop.set()
    await reading

    report(f"viewers alone ({readers} clients, {baseline_s:.0f} s)", alone)
    report(f"viewers during {uploads} uploads (half tus, half multipart) and their transcodes", loaded)
    errors = sum(alone.errors.values()) + sum(loaded.errors.values())
    print()
    for route in ("GET master.m3u8", "GET variant index.m3u8", "GET segment .ts"):
        if alone.latencies[route] and loaded.latencies[route]:
            ratio = percentile(loaded.latencies[route], 99) / percentile(alone.latencies[route], 99)
            print(f"p99 {route} during uploads / alone: {ratio:.2f}")
    print(f"uploads accepted: {len(ids)}/{uploads} in {accepted_s:.1f} s; every upload ready after {ready_s:.1f} s "
          f"({len(failed)} failed, {len(pending)} not finished)")
    print(f"server peak RSS: {peak_rss_mib(pid):.0f} MiB")
    print(f"errors: {errors}")
    sys.exit(0 if errors == 0 and not failed and not pending and len(ids) == uploads else 1)


asyncio.run(main())
