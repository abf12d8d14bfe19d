#!/usr/bin/env python3
"""chat_server.py - a fake OpenAI chat-completions server on loopback, for
tests and benchmarks of orchestrator/http.c. Python 3 standard library only.

    python3 tests/fakes/chat_server.py [--port 0] [--latency-ms MS]
        [--fault-plan FILE] [--max-seconds 120] [--watch-stdin]

Listens on 127.0.0.1 only; the port (chosen by the OS unless --port) is the
first line on stdout. Stops after --max-seconds, on SIGTERM/SIGINT, and with
--watch-stdin when its stdin reaches end of file (the test that started it
died).

POST /v1/chat/completions takes {model, messages, temperature, max_tokens,
seed} and answers a chat.completion whose content is
"reply to: <last message content>" plus " [seed N]" when a seed is given.

Faults, per request, from the header
    X-Fault: KIND[; key=value]...
or from a fault plan: a JSON list whose element i (a string in the same
syntax, or null) applies to the (i+1)-th POST. A header fault with
`times=N` applies only to the first N requests with the same path and body
(so a retry of the same request then succeeds); without it, to every one.
Kinds:
    429            status 429 with Retry-After: `retry-after=S` (default 1)
                   or `retry-after-date=S` (an HTTP date S seconds ahead)
    500            status 500 with a JSON error body (also 502, 503)
    reset          close the connection without a response (RST)
    slow           sleep `ms=N` (default 2000) before answering normally
    truncated      a 200 whose JSON is cut in the middle (valid framing)
    short          Content-Length larger than the body sent, then close
    malformed      a 200 whose body is not JSON
    content-type   a 200 with a JSON body but Content-Type: text/html
    blank          a 200 whose message content is whitespace only
    echo-auth      status 401 whose body repeats the Authorization header
                   (after `pad=N` filler characters)
    big            a 200 with `bytes=N` (default 1 MiB) of content

GET /stats returns {"requests": N, "posts": N, "faults": N, "connections":
N, "by_key": {"POST /v1/chat/completions <sha256 of body>": count, ...},
"max_per_key": N}.
"""
import argparse
import email.utils
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, plan, latency_ms):
        self.lock = threading.Lock()
        self.plan = plan
        self.latency = latency_ms / 1000.0
        self.requests = 0
        self.posts = 0
        self.faults = 0
        self.connections = 0
        self.by_key = {}


def parse_fault(spec):
    """'429; retry-after=1; times=1' -> ('429', {'retry-after': '1', ...})"""
    if not spec:
        return None, {}
    parts = [p.strip() for p in spec.split(";") if p.strip()]
    if not parts:
        return None, {}
    args = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        args[k.strip().lower()] = v.strip()
    return parts[0].lower(), args


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "chat_server/1"

    def setup(self):
        super().setup()
        with self.server.state.lock:
            self.server.state.connections += 1

    def log_message(self, fmt, *args):  # quiet
        pass

    def send(self, code, body, ctype="application/json", extra=(), length=None):
        head = ["HTTP/1.1 %d %s" % (code, self.responses.get(code, ("",))[0]),
                "Content-Type: " + ctype,
                "Content-Length: %d" % (len(body) if length is None else length)]
        head += ["%s: %s" % kv for kv in extra]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def reset(self):
        # SO_LINGER 0: close() sends RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def do_GET(self):
        st = self.server.state
        if self.path != "/stats":
            self.send(404, b'{"error":{"message":"not found"}}')
            return
        with st.lock:
            st.requests += 1
            out = {"requests": st.requests, "posts": st.posts, "faults": st.faults,
                   "connections": st.connections, "by_key": dict(st.by_key),
                   "max_per_key": max(st.by_key.values(), default=0)}
        self.send(200, json.dumps(out).encode())

    def do_POST(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        key = "POST %s %s" % (self.path, hashlib.sha256(body).hexdigest())
        with st.lock:
            st.requests += 1
            st.posts += 1
            index = st.posts - 1
            count = st.by_key.get(key, 0) + 1
            st.by_key[key] = count
        kind, args = parse_fault(self.headers.get("X-Fault"))
        if kind and "times" in args and count > int(args["times"]):
            kind = None
        if kind is None and index < len(st.plan) and st.plan[index]:
            kind, args = parse_fault(st.plan[index])
        if st.latency:
            time.sleep(st.latency)
        if self.path != "/v1/chat/completions":
            self.send(404, b'{"error":{"message":"unknown path"}}')
            return
        if kind:
            with st.lock:
                st.faults += 1
            if self.fault(kind, args, body):
                return
        self.answer(body)

    def answer(self, body, content=None, ctype="application/json"):
        try:
            req = json.loads(body or b"{}")
            msgs = req.get("messages") or [{}]
            last = msgs[-1].get("content", "")
        except (ValueError, AttributeError, TypeError):
            self.send(400, b'{"error":{"message":"request body is not JSON"}}')
            return
        if content is None:
            content = "reply to: %s" % last
            if req.get("seed") is not None:
                content += " [seed %s]" % req["seed"]
        ptok = sum(len(str(m.get("content", "")).split()) for m in msgs if isinstance(m, dict))
        ctok = len(content.split())
        out = {"id": "chatcmpl-" + hashlib.sha256(body).hexdigest()[:16],
               "object": "chat.completion", "created": int(time.time()),
               "model": req.get("model", "fake"),
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop"}],
               "usage": {"prompt_tokens": ptok, "completion_tokens": ctok,
                         "total_tokens": ptok + ctok}}
        self.send(200, json.dumps(out).encode(), ctype)

    def fault(self, kind, args, body):
        """Applies a fault; returns False when a normal answer should follow."""
        if kind == "429":
            if "retry-after-date" in args:
                when = time.time() + float(args["retry-after-date"])
                ra = email.utils.formatdate(when, usegmt=True)
            else:
                ra = args.get("retry-after", "1")
            self.send(429, b'{"error":{"message":"rate limit reached","type":"requests"}}',
                      extra=[("Retry-After", ra)])
        elif kind in ("500", "502", "503"):
            self.send(int(kind), b'{"error":{"message":"internal error"}}')
        elif kind == "reset":
            self.reset()
        elif kind == "slow":
            time.sleep(float(args.get("ms", "2000")) / 1000.0)
            return False
        elif kind == "truncated":
            self.send(200, b'{"id":"x","object":"chat.completion","choices":[{"index":0,"mess')
        elif kind == "short":
            self.send(200, b'{"id":"x","choices":[', length=1000)
            self.close_connection = True
        elif kind == "malformed":
            self.send(200, b"{this is not json}")
        elif kind == "content-type":
            self.answer(body, ctype="text/html")
        elif kind == "blank":
            self.answer(body, content="  \n ")
        elif kind == "echo-auth":
            auth = self.headers.get("Authorization", "")
            pad = "x" * int(args.get("pad", "0"))
            msg = {"error": {"message": "%sinvalid credentials: %s" % (pad, auth),
                             "type": "invalid_request_error", "code": "invalid_api_key"}}
            self.send(401, json.dumps(msg).encode())
        elif kind == "big":
            self.answer(body, content="x" * int(args.get("bytes", str(1 << 20))))
        else:
            self.send(400, json.dumps({"error": {"message": "unknown fault " + kind}}).encode())
        return True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that hang up (a timeout, a cancel, a response too large)
        # are part of the tests, not errors of the server.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--fault-plan")
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--watch-stdin", action="store_true")
    a = ap.parse_args()
    plan = []
    if a.fault_plan:
        with open(a.fault_plan) as f:
            plan = json.load(f)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(plan, a.latency_ms)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if a.watch_stdin:
        def watch():
            while os.read(0, 4096):
                pass
            stop.set()
        threading.Thread(target=watch, daemon=True).start()
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    print(srv.server_address[1], flush=True)
    stop.wait(a.max_seconds)
    srv.shutdown()
    srv.server_close()


if __name__ == "__main__":
    main()
