"""A small S3 for the tests (Python 3 stdlib only), on 127.0.0.1.

No S3 server packaged on Debian 12 both verifies SigV4 signatures and
honours conditional writes (s3rver does neither; see
../shared/docs/object-storage.md), so this one does, as AWS does:

* SigV4 header authentication (Authorization: AWS4-HMAC-SHA256 ...):
  the canonical request rebuilt from what arrived, the signature compared
  in constant time; 403 SignatureDoesNotMatch / InvalidAccessKeyId
  otherwise; x-amz-content-sha256 required and checked against the body;
  x-amz-security-token when the credentials have a session token.
* Path-style URLs: /BUCKET/KEY. PUT (If-None-Match: * and If-Match: 412
  when they fail, 404 for If-Match on a missing key), GET (If-None-Match
  -> 304, If-Match -> 412), HEAD, DELETE (204 whether it existed or not;
  If-Match honoured), ListObjectsV2 (prefix, continuation-token,
  max-keys, start-after) with AWS's XML.
* Faults for the tests: fail(status) answers every request with a 5xx,
  hang() holds requests until released, stop()/restart() close and
  reopen the port (connections refused meanwhile), ignore_conditions
  makes it an S3 that overwrites whatever the headers say (as s3rver),
  max_page makes listings page sooner (S3 may return fewer keys than
  asked for).

S3StandIn(buckets=["b"], creds={"AKID": "secret"}) starts it; .endpoint
is its URL for storage_endpoint; .stop() stops it. Objects live in
memory (they survive stop()/restart()), and also in directory= when one
is given (read back by the next stand-in on it). As a program (for
bench/): `python3 s3_standin.py --port P --bucket B --creds AKID:SECRET
[--dir D]` prints its endpoint and serves until SIGTERM.
"""

import argparse
import base64
import datetime
import email.utils
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def uri_encode(s, keep_slash):
    """AWS's UriEncode: every byte but A-Za-z0-9-_.~ (and '/' in a path)
    as %XX, upper case."""
    safe = UNRESERVED + ("/" if keep_slash else "")
    return "".join(c if c in safe else "".join("%%%02X" % b for b in c.encode())
                   for c in s)


def canonical_query(raw):
    pairs = []
    for part in raw.split("&") if raw else []:
        if not part:
            continue
        k, _, v = part.partition("=")
        k = urllib.parse.unquote(k)
        v = urllib.parse.unquote(v)
        pairs.append((uri_encode(k, False), uri_encode(v, False)))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def signing_key(secret, date, region, service):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def parse_authorization(value):
    """{'Credential': ..., 'SignedHeaders': ..., 'Signature': ...}, or None."""
    if not value or not value.startswith("AWS4-HMAC-SHA256 "):
        return None
    out = {}
    for item in value[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = item.strip().partition("=")
        out[k] = v
    if not all(k in out for k in ("Credential", "SignedHeaders", "Signature")):
        return None
    return out


def expected_signature(method, raw_path, raw_query, header_values, signed,
                       payload_hash, amz_date, scope, secret):
    """The signature AWS computes for a request. header_values: {lowercase
    name: [values as received]}."""
    path = urllib.parse.unquote(raw_path)
    canon_headers = ""
    for name in signed:
        vals = header_values.get(name, [])
        canon_headers += "%s:%s\n" % (name, ",".join(" ".join(v.split()) for v in vals))
    creq = "\n".join([method, uri_encode(path, True), canonical_query(raw_query),
                      canon_headers, ";".join(signed), payload_hash])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    key = signing_key(secret, date, region, service)
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest(), creq


class Obj:
    def __init__(self, body, ctype):
        self.body = body
        self.ctype = ctype
        self.etag = '"%s"' % hashlib.md5(body).hexdigest()
        self.mtime = time.time()


class S3Error(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AmazonS3"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go in two writes: without this, Nagle and the
        # client's delayed ACK add 40 ms to an answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _all(self, method):
        si = self.server.standin
        body = b""
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            body = self.rfile.read(n)
        with si.lock:
            si.requests.append((method, self.path, dict((k.lower(), v) for k, v in
                                                         self.headers.items())))
            hold = si.holding
            status = si.failing
        if hold:
            si.held.append(self)
            si.release.wait(60)
            self.close_connection = True
            return
        if status:
            return self._error(S3Error(status, "InternalError" if status == 500 else
                                       "SlowDown", "injected fault"), method)
        try:
            self._authenticate(method, body)
            self._dispatch(method, body)
        except S3Error as e:
            self._error(e, method)

    def do_GET(self):
        self._all("GET")

    def do_PUT(self):
        self._all("PUT")

    def do_HEAD(self):
        self._all("HEAD")

    def do_DELETE(self):
        self._all("DELETE")

    def do_POST(self):
        self._all("POST")

    # -- answers

    def _send(self, status, body=b"", headers=None, method="GET"):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 304 and status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", "%016X" % id(self))
        self.end_headers()
        if method != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _error(self, e, method):
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
               '<Message>%s</Message><RequestId>%016X</RequestId></Error>'
               % (escape(e.code), escape(e.message), id(self))).encode()
        h = {"Content-Type": "application/xml"}
        h.update(e.headers)
        self._send(e.status, xml, h, method)

    # -- SigV4

    def _authenticate(self, method, body):
        si = self.server.standin
        auth = parse_authorization(self.headers.get("Authorization"))
        if auth is None:
            raise S3Error(403, "AccessDenied", "Access Denied")
        akid, _, scope = auth["Credential"].partition("/")
        with si.lock:
            secret = si.creds.get(akid)
        if secret is None:
            raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you"
                          " provided does not exist in our records.")
        signed = auth["SignedHeaders"].split(";")
        values = {}
        for k, v in self.headers.items():
            values.setdefault(k.lower(), []).append(v)
        for name in signed:
            if name not in values:
                raise S3Error(403, "SignatureDoesNotMatch", "signed header %s"
                              " is not in the request" % name)
        for need in ("host", "x-amz-date", "x-amz-content-sha256"):
            if need not in signed:
                raise S3Error(403, "AccessDenied", "%s must be signed" % need)
        if si.session_token is not None and (
                values.get("x-amz-security-token") != [si.session_token] or
                "x-amz-security-token" not in signed):
            raise S3Error(403, "InvalidToken", "The provided token is malformed"
                          " or otherwise invalid.")
        amz_date = self.headers.get("x-amz-date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc)
        except ValueError:
            raise S3Error(403, "AccessDenied", "bad x-amz-date")
        if abs(time.time() - when.timestamp()) > 900:
            raise S3Error(403, "RequestTimeTooSkewed", "The difference between"
                          " the request time and the current time is too large.")
        parts = scope.split("/")
        if (len(parts) != 4 or parts[0] != amz_date[:8] or parts[1] != si.region or
                parts[2] != "s3" or parts[3] != "aws4_request"):
            raise S3Error(403, "SignatureDoesNotMatch", "bad credential scope %s" % scope)
        payload = self.headers.get("x-amz-content-sha256", "")
        if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
            raise S3Error(400, "XAmzContentSHA256Mismatch", "The provided"
                          " 'x-amz-content-sha256' header does not match what was"
                          " computed.")
        raw_path, _, raw_query = self.path.partition("?")
        want, creq = expected_signature(method, raw_path, raw_query, values,
                                        signed, payload, amz_date,
                                        auth["Credential"].partition("/")[2],
                                        secret)
        if not hmac.compare_digest(want, auth["Signature"]):
            with si.lock:
                si.mismatches.append(creq)
            raise S3Error(403, "SignatureDoesNotMatch", "The request signature we"
                          " calculated does not match the signature you provided."
                          " Check your key and signing method.")

    # -- operations

    def _dispatch(self, method, body):
        si = self.server.standin
        raw_path, _, raw_query = self.path.partition("?")
        path = urllib.parse.unquote(raw_path)
        bucket, _, key = path.lstrip("/").partition("/")
        with si.lock:
            if bucket not in si.buckets:
                raise S3Error(404, "NoSuchBucket", "The specified bucket does not"
                              " exist")
        if key == "":
            if method != "GET":
                raise S3Error(405, "MethodNotAllowed", "not here")
            return self._list(bucket, urllib.parse.parse_qs(raw_query,
                                                            keep_blank_values=True))
        if method == "PUT":
            return self._put(bucket, key, body)
        if method in ("GET", "HEAD"):
            return self._get(bucket, key, method)
        if method == "DELETE":
            return self._delete(bucket, key)
        raise S3Error(405, "MethodNotAllowed", "not here")

    def _cond(self, obj, for_write):
        """412 (or 304) per the request's conditional headers."""
        si = self.server.standin
        if for_write and si.ignore_conditions:
            return
        im = self.headers.get("If-Match")
        inm = self.headers.get("If-None-Match")
        if im is not None:
            if obj is None:
                raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
            if im.strip() != "*" and im.strip() != obj.etag:
                raise S3Error(412, "PreconditionFailed", "At least one of the"
                              " pre-conditions you specified did not hold")
        if inm is not None and obj is not None:
            if for_write:
                if inm.strip() == "*":
                    raise S3Error(412, "PreconditionFailed", "At least one of"
                                  " the pre-conditions you specified did not hold")
            elif inm.strip() == "*" or obj.etag in [t.strip() for t in inm.split(",")]:
                raise S3Error(304, "NotModified", "", {"ETag": obj.etag})

    def _put(self, bucket, key, body):
        si = self.server.standin
        with si.lock:
            obj = si.objects.get((bucket, key))
            self._cond(obj, True)
            obj = Obj(body, self.headers.get("Content-Type", "binary/octet-stream"))
            si.objects[(bucket, key)] = obj
            si.puts += 1
            si._save(bucket, key, obj)
        self._send(200, b"", {"ETag": obj.etag})

    def _get(self, bucket, key, method):
        si = self.server.standin
        with si.lock:
            obj = si.objects.get((bucket, key))
        if obj is None:
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
        try:
            self._cond(obj, False)
        except S3Error as e:
            if e.status != 304:
                raise
            return self._send(304, b"", {"ETag": obj.etag}, method)
        self._send(200, obj.body, {
            "ETag": obj.etag, "Content-Type": obj.ctype,
            "Last-Modified": email.utils.formatdate(obj.mtime, usegmt=True)}, method)

    def _delete(self, bucket, key):
        si = self.server.standin
        with si.lock:
            obj = si.objects.get((bucket, key))
            if self.headers.get("If-Match") is not None:
                self._cond(obj, True)
            si.objects.pop((bucket, key), None)
            si._save(bucket, key, None)
        self._send(204)

    def _list(self, bucket, q):
        si = self.server.standin
        if q.get("list-type", [""])[0] != "2":
            raise S3Error(400, "InvalidArgument", "only ListObjectsV2 here")
        prefix = q.get("prefix", [""])[0]
        max_keys = min(int(q.get("max-keys", ["1000"])[0]), si.max_page)
        token = q.get("continuation-token", [None])[0]
        after = q.get("start-after", [""])[0]
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise S3Error(400, "InvalidArgument", "The continuation token"
                              " provided is incorrect")
        with si.lock:
            keys = sorted(k for (b, k) in si.objects if b == bucket and
                          k.startswith(prefix) and k > after)
            page = [(k, si.objects[(bucket, k)]) for k in keys[:max_keys]]
        truncated = len(keys) > max_keys
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult'
               ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
               "<Name>%s</Name><Prefix>%s</Prefix>" % (escape(bucket), escape(prefix)),
               "<KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys>" % (len(page), max_keys),
               "<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false")]
        for k, o in page:
            out.append("<Contents><Key>%s</Key><LastModified>%s</LastModified>"
                       "<ETag>%s</ETag><Size>%d</Size><StorageClass>STANDARD"
                       "</StorageClass></Contents>" % (
                           escape(k), time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                    time.gmtime(o.mtime)),
                           o.etag.replace('"', "&quot;"), len(o.body)))
        if token is not None:
            out.append("<ContinuationToken>%s</ContinuationToken>" % escape(token))
        if truncated:
            out.append("<NextContinuationToken>%s</NextContinuationToken>" %
                       base64.urlsafe_b64encode(page[-1][0].encode()).decode())
        out.append("</ListBucketResult>")
        self._send(200, "".join(out).encode(), {"Content-Type": "application/xml"})


class _Server(http.server.ThreadingHTTPServer):
    # Replicas racing for one object connect at once: the default backlog
    # of 5 resets some of them.
    request_queue_size = 128
    daemon_threads = True
    block_on_close = False


class S3StandIn:
    """A SigV4-verifying S3 on 127.0.0.1 (see the module's comment)."""

    def __init__(self, buckets=("bucket",), creds=None, region="us-east-1",
                 session_token=None, port=0, directory=None):
        self.lock = threading.Lock()
        self.buckets = set(buckets)
        self.creds = dict(creds or {"AKIDSTANDIN": "standin/secret+key"})
        self.region = region
        self.session_token = session_token
        self.objects = {}
        self.requests = []
        self.mismatches = []        # canonical requests that did not verify
        self.puts = 0
        self.failing = 0
        self.holding = False
        self.held = []
        self.release = threading.Event()
        self.ignore_conditions = False
        self.max_page = 1000        # keys per listing page, at most
        self.running = False
        self.directory = directory
        self._load()
        self._start(port)

    def _path(self, bucket, key):
        return os.path.join(self.directory, bucket, urllib.parse.quote(key, safe=""))

    def _load(self):
        if self.directory is None:
            return
        for bucket in self.buckets:
            d = os.path.join(self.directory, bucket)
            os.makedirs(d, exist_ok=True)
            for name in os.listdir(d):
                if name.endswith(".meta"):
                    continue
                with open(os.path.join(d, name), "rb") as f:
                    o = Obj(f.read(), "binary/octet-stream")
                with open(os.path.join(d, name + ".meta")) as f:
                    meta = json.load(f)
                o.ctype, o.etag, o.mtime = meta["ctype"], meta["etag"], meta["mtime"]
                self.objects[(bucket, urllib.parse.unquote(name))] = o

    def _save(self, bucket, key, obj):
        """Writes obj (None: removes it) through to the directory; called
        under the lock."""
        if self.directory is None:
            return
        path = self._path(bucket, key)
        if obj is None:
            for p in (path, path + ".meta"):
                if os.path.exists(p):
                    os.unlink(p)
            return
        with open(path + ".tmp", "wb") as f:
            f.write(obj.body)
        os.replace(path + ".tmp", path)
        with open(path + ".meta", "w") as f:
            json.dump({"ctype": obj.ctype, "etag": obj.etag, "mtime": obj.mtime}, f)

    def _start(self, port):
        srv = _Server(("127.0.0.1", port), _Handler)
        srv.standin = self
        self.srv = srv
        self.port = srv.server_address[1]
        self.thread = threading.Thread(target=srv.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.running = True

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def fail(self, status=503):
        """Answer every request with status (0: stop failing)."""
        with self.lock:
            self.failing = status

    def hang(self, on=True):
        """Hold every request unanswered until hang(False) or stop()."""
        with self.lock:
            self.holding = on
        if on:
            self.release.clear()
        else:
            self.release.set()

    def stop(self):
        """Closes the port: connections are refused until restart()."""
        if not self.running:
            return
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()
        for h in list(self.held):
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(timeout=10)
        self.running = False

    def restart(self):
        if not self.running:
            self._start(self.port)

    def get(self, bucket, key):
        with self.lock:
            o = self.objects.get((bucket, key))
            return None if o is None else o.body

    def keys(self, bucket=None):
        with self.lock:
            return sorted(k for (b, k) in self.objects if bucket in (None, b))


def main():
    ap = argparse.ArgumentParser(description="A SigV4-verifying S3 on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bucket", action="append", required=True)
    ap.add_argument("--creds", action="append", required=True, help="AKID:SECRET")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--dir")
    a = ap.parse_args()
    si = S3StandIn(buckets=a.bucket, creds=dict(c.split(":", 1) for c in a.creds),
                   region=a.region, port=a.port, directory=a.dir)
    print(si.endpoint, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(3600):
        pass
    si.stop()


if __name__ == "__main__":
    main()
