"""The Python half of scripts/bench-events (standard library only).

  receive PORT_FILE OUT_DIR
      The webhook receiver: an asyncio HTTP/1.1 server on 127.0.0.1, on a free port that it
      writes to PORT_FILE. It answers every POST 200 at once with an empty body, and keeps,
      per request, its receipt time (time.time()), its path and its StreamBox-Event-Id.
        POST /e/N    a delivery to endpoint N
        POST /b/N    a baseline request (kept apart, but costing the receiver the same)
        GET  /_stats JSON counts, polled by `wait`
        POST /_dump  writes OUT_DIR/deliveries.tsv (time, endpoint, event id) and
                     OUT_DIR/sample.http (the first delivery, as StreamBox sent it)
      It stops on SIGTERM.
  wait RECEIVER_PORT EXPECTED DEADLINE_S SERVER_PID
      Polls the receiver until it has EXPECTED distinct (event, endpoint) pairs; exits
      non-zero when the deadline passes, StreamBox exits or the receiver saw bad requests.
  load RECEIVER_PORT SAMPLE COUNT SECONDS THREADS
      The baseline: THREADS threads, each on one kept-alive connection, replay the sample
      delivery (to /b/N, with a fresh event id of the same length each time) until COUNT
      requests or SECONDS, whichever comes first; prints `REQ_PER_S REQUESTS SECONDS THREADS`.
  report OUT_DIR EVENTS_TSV EXPECTED CAPACITY EVENTS ENDPOINTS CONCURRENCY INSERT_S RECORDED RETRIED
      The results. EVENTS_TSV: event id, its transaction's start and end (epoch seconds)
      from PostgreSQL; CAPACITY: what `load` printed; RECORDED: deliveries PostgreSQL
      holds as delivered; RETRIED: deliveries with more than one attempt.
"""
import asyncio
import itertools
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
import uuid


def log(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


def header(head, name):
    """The value of header `name` (lower case, e.g. b"content-length") in a lower-cased
    request head, or None."""
    needle = b"\r\n" + name + b":"
    at = head.find(needle)
    if at < 0:
        return None
    start = at + len(needle)
    stop = head.find(b"\r\n", start)
    return head[start:stop if stop >= 0 else len(head)].strip()


# ---------------------------------------------------------------------------- receive

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class Record:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.deliveries = []  # (time, endpoint path, event id)
        self.pairs = set()
        self.baseline = []
        self.baseline_pairs = set()
        self.bad = 0  # requests the receiver could not take as deliveries
        self.sample = None

    def stats(self):
        return {"pairs": len(self.pairs), "deliveries": len(self.deliveries), "baseline": len(self.baseline),
                "bad": self.bad}

    def dump(self):
        with open(os.path.join(self.out_dir, "deliveries.tsv"), "w") as f:
            for at, endpoint, event in self.deliveries:
                f.write(f"{at:.6f}\t{endpoint}\t{event}\n")
        if self.sample is not None:
            with open(os.path.join(self.out_dir, "sample.http"), "wb") as f:
                f.write(self.sample)


class Receiver(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: what reqwest sends. A hand-made
    protocol rather than http.server, so the receiver is fast enough not to be what is
    measured; its capacity is measured anyway (`load`)."""

    def __init__(self, record):
        self.record = record
        self.buffer = bytearray()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            if header(head, b"transfer-encoding") is not None:
                # Never sent by StreamBox for a body it holds whole; refuse rather than misread.
                self.record.bad += 1
                self.transport.write(b"HTTP/1.1 411 Length Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                self.transport.close()
                return
            length = header(head, b"content-length")
            total = end + 4 + (int(length) if length else 0)
            if len(self.buffer) < total:
                return
            now = time.time()
            request = bytes(self.buffer[:total])
            del self.buffer[:total]
            self.handle(now, head, request)

    def handle(self, now, head, request):
        line_end = head.find(b"\r\n")
        parts = head[:line_end if line_end >= 0 else len(head)].split()
        method, path = (parts[0], parts[1]) if len(parts) >= 2 else (b"", b"")
        record = self.record
        if method == b"post" and (path.startswith(b"/e/") or path.startswith(b"/b/")):
            event = header(head, b"streambox-event-id")
            if event is None:
                record.bad += 1
                event = b"-"
            key = (path.decode(), event.decode())
            if path.startswith(b"/e/"):
                record.deliveries.append((now, key[0], key[1]))
                record.pairs.add(key)
                if record.sample is None:
                    record.sample = request
            else:
                record.baseline.append((now, key[0], key[1]))
                record.baseline_pairs.add(key)
            self.transport.write(OK)
        elif path == b"/_stats":
            body = json.dumps(record.stats()).encode()
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                                 + str(len(body)).encode() + b"\r\n\r\n" + body)
        elif method == b"post" and path == b"/_dump":
            record.dump()
            self.transport.write(OK)
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")


async def receive(port_file, out_dir):
    loop = asyncio.get_running_loop()
    record = Record(out_dir)
    server = await loop.create_server(lambda: Receiver(record), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    # Written whole, then renamed, so the script never reads half a port number.
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.rename(port_file + ".tmp", port_file)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


# ---------------------------------------------------------------------------- wait

def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as response:
        return json.load(response)


def alive(pid):
    """Whether the process runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait(port, expected, deadline_s, server_pid):
    start = time.monotonic()
    shown = start
    while True:
        now = time.monotonic()
        try:
            s = stats(port)
        except OSError as e:
            sys.exit(f"the receiver does not answer: {e}")
        if s["bad"]:
            sys.exit(f"the receiver got {s['bad']} requests it could not take as deliveries")
        if s["pairs"] >= expected:
            log(f"all {expected} deliveries received after {now - start:.1f} s")
            return
        if not alive(server_pid):
            sys.exit(f"streambox exited with {s['pairs']} of {expected} deliveries received")
        if now - start > deadline_s:
            sys.exit(f"timed out after {deadline_s} s: {s['pairs']} of {expected} deliveries received "
                     f"({s['deliveries'] - s['pairs']} duplicates)")
        if now - shown >= 10:
            log(f"{s['pairs']} of {expected} deliveries received after {now - start:.0f} s")
            shown = now
        time.sleep(0.2)


# ---------------------------------------------------------------------------- load

def load(port, sample_path, count, seconds, threads):
    with open(sample_path, "rb") as f:
        sample = f.read()
    line_end = sample.find(b"\r\n")
    method, path, version = sample[:line_end].split(b" ")
    # The same request at /b/N (same length as /e/N): counted apart from the deliveries.
    template = method + b" /b/" + path[len(b"/e/"):] + b" " + version + sample[line_end:]
    event = header(sample.lower(), b"streambox-event-id")
    if event is None:
        sys.exit("the sample delivery has no StreamBox-Event-Id")
    # In the header and the body; replaced by a fresh id of the same length each time,
    # so the receiver keeps as many distinct ids as it does for deliveries.
    if event not in template:
        sys.exit("the sample delivery's event id is not in lower case as expected")
    tickets = itertools.count()  # next() on it is atomic under the GIL
    done = [0] * threads
    failures = []
    started = []
    ready = threading.Barrier(threads, action=lambda: started.append(time.monotonic()))

    def worker(n):
        try:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            failures.append(f"connect: {e}")
            ready.abort()
            return
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            return
        deadline = started[0] + seconds
        try:
            while next(tickets) < count and time.monotonic() < deadline:
                sock.sendall(template.replace(event, str(uuid.uuid4()).encode()))
                answer = b""
                while not answer.endswith(b"\r\n\r\n"):  # the receiver's answers have no body
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise ConnectionError("the receiver closed the connection")
                    answer += chunk
                if not answer.startswith(b"HTTP/1.1 200 "):
                    raise ConnectionError(f"the receiver answered {answer[:40]!r}")
                done[n] += 1
        except OSError as e:
            failures.append(str(e))
        finally:
            sock.close()

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        sys.exit(f"baseline failed: {failures[0]}")
    elapsed = time.monotonic() - started[0]
    print(f"{sum(done) / elapsed:.1f} {sum(done)} {elapsed:.3f} {threads}")


# ---------------------------------------------------------------------------- report

def percentile(ordered, p):
    """Nearest rank."""
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def report(out_dir, events_tsv, expected, capacity_line, events, endpoints, concurrency, insert_s, recorded,
           retried):
    events_at = {}  # event id -> (transaction start = events.created_at, transaction end)
    with open(events_tsv) as f:
        for line in f:
            event, began, ended = line.split("\t")
            events_at[event] = (float(began), float(ended))
    first = {}  # (endpoint, event) -> first receipt
    duplicates = 0
    with open(os.path.join(out_dir, "deliveries.tsv")) as f:
        for line in f:
            at, endpoint, event = line.rstrip("\n").split("\t")
            at = float(at)
            key = (endpoint, event)
            if key in first:
                duplicates += 1
                first[key] = min(first[key], at)
            else:
                first[key] = at
    unknown = sum(1 for _, event in first if event not in events_at)
    if unknown:
        sys.exit(f"{unknown} deliveries are of events the database does not list")
    from_commit = sorted(at - events_at[event][1] for (_, event), at in first.items())
    from_start = sorted(at - events_at[event][0] for (_, event), at in first.items())
    span = max(first.values()) - min(began for began, _ in events_at.values())
    rate = len(first) / span
    batches = {began: ended - began for began, ended in events_at.values()}
    mean_batch_ms = 1000 * sum(batches.values()) / len(batches)
    capacity, sent, capacity_s, threads = capacity_line.split()
    capacity = float(capacity)

    print()
    print(f"{events} events x {endpoints} endpoints = {expected} deliveries; all events inserted at once "
          f"({len(batches)} transactions of up to 500 events in {float(insert_s):.2f} s), so the delays are "
          f"mostly queueing")
    print(f"senders: STREAMBOX_WEBHOOK_CONCURRENCY={concurrency}, at most 4 in flight per endpoint; "
          f"`streambox all` and the receiver share this machine ({os.cpu_count()} cores) with PostgreSQL and Redis")
    print(f"received:                {len(first)} distinct (event, endpoint) pairs, {duplicates} duplicates; "
          f"recorded delivered: {recorded}; retried: {retried}")
    print(f"deliveries/s:            {rate:9.1f}  ({len(first)} in {span:.2f} s, "
          f"first event's transaction start -> last receipt)")
    print(f"delay commit -> receipt: p50 {1000 * percentile(from_commit, 50):9.1f} ms, "
          f"p99 {1000 * percentile(from_commit, 99):9.1f} ms, max {1000 * from_commit[-1]:9.1f} ms")
    print(f"  commit = clock_timestamp() as the event's transaction ends (COMMIT follows at once); from its start "
          f"(events.created_at, on average {mean_batch_ms:.0f} ms earlier): p50 "
          f"{1000 * percentile(from_start, 50):.1f} ms, p99 {1000 * percentile(from_start, 99):.1f} ms")
    print(f"receiver capacity req/s: {capacity:9.1f}  (the same receiver, StreamBox stopped: {sent} replays of a real "
          f"delivery in {float(capacity_s):.2f} s from {threads} threads on kept-alive connections)")
    print(f"deliveries/s / receiver capacity = {rate / capacity:.4f}")


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "receive":
        asyncio.run(receive(*args))
    elif command == "wait":
        wait(int(args[0]), int(args[1]), float(args[2]), int(args[3]))
    elif command == "load":
        load(int(args[0]), args[1], int(args[2]), float(args[3]), int(args[4]))
    elif command == "report":
        report(args[0], args[1], int(args[2]), *args[3:])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
