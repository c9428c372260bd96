#!/usr/bin/env python3
"""A slow stand-in for an upstream sparse registry, for bench/*.sh.

Serves the files under --root over HTTP/1.1 (keep-alive, one thread per
connection), sleeping --delay seconds before every answer, and appends the
path of every request it answers to --log (one line each, written before the
answer), so a benchmark can count upstream requests. 404 for missing files.
Not part of crated.
"""
import argparse
import hashlib
import os
import signal
import socket
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    root = os.path.realpath(a.root)
    log = open(a.log, "a", buffering=1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def reply(self, status, headers, body):
            # One write per answer: the head and body never wait on each
            # other (Nagle, delayed ACKs).
            head = ["HTTP/1.1 %d %s" % (status, self.responses[status][0]),
                    "Date: " + formatdate(usegmt=True),
                    "Content-Length: %d" % len(body)] + headers
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() +
                             (body if self.command != "HEAD" else b""))

        def answer(self):
            path = self.path.split("?", 1)[0]
            with lock:
                log.write("%.6f %s\n" % (time.time(), path))
            time.sleep(a.delay)
            full = os.path.realpath(os.path.join(root, path.lstrip("/")))
            if not full.startswith(root + os.sep) or not os.path.isfile(full):
                self.reply(404, ["Content-Type: text/plain"], b"not found\n")
                return
            with open(full, "rb") as f:
                body = f.read()
            etag = '"%s"' % hashlib.md5(body).hexdigest()
            if self.headers.get("If-None-Match") == etag:
                self.reply(304, ["ETag: " + etag], b"")
                return
            self.reply(200, [
                "Content-Type: " + ("application/json" if
                                    path.endswith(".json") else "text/plain"),
                "ETag: " + etag,
                "Last-Modified: " + formatdate(os.path.getmtime(full),
                                               usegmt=True)], body)

        def do_GET(self):
            self.answer()

        def do_HEAD(self):
            self.answer()

    srv = Server(("127.0.0.1", a.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        srv.serve_forever(poll_interval=0.05)
    finally:
        log.close()


if __name__ == "__main__":
    main()
