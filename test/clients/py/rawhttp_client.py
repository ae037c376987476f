"""Raw HTTP with Python's http.client: requests shaped by hand (headers exactly as listed, names as written,
bodies chunked or not) and signed with botocore's SigV4 signer over exactly the bytes that go on the wire.

These are the transport variants real clients produce somewhere (Content-Length: 0 on bodiless requests,
Expect: 100-continue, chunked uploads, runs of spaces, repeated headers, odd case, raw UTF-8 in a value).
"""

import hashlib
import http.client
import re
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from common import NON_ASCII_DISPOSITION, Recorder, header_outcome, parse_args, sha256, small_body

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
NON_ASCII_META = "ünï-日本"
SPACED_VALUE = "  two  spaces   three   spaces  "


class Response:
    def __init__(self, resp):
        self.status = resp.status
        self.header_list = resp.getheaders()
        self.headers = dict(self.header_list)
        self.body = resp.read()

    def outcome(self):
        if self.status >= 300:
            # An error body names the bucket and a request id, so only its code is comparable.
            code = re.search(rb"<Code>([^<]*)</Code>", self.body)
            return {"status": self.status, "code": code.group(1).decode() if code else None}
        out = {"status": self.status, **header_outcome(self.headers)}
        if self.body:
            out["body-sha256"] = sha256(self.body)
        return out

    def raw_header(self, name):
        # http.client decodes header bytes as latin-1; encoding back gives the bytes that arrived.
        values = [v for n, v in self.header_list if n.lower() == name]
        return values[0].encode("latin-1") if values else None


class Client:
    def __init__(self, args):
        parts = urllib.parse.urlsplit(args.endpoint)
        self.endpoint = args.endpoint.rstrip("/")
        self.host, self.port, self.netloc = parts.hostname, parts.port, parts.netloc
        self.signer = SigV4Auth(Credentials(args.access_key, args.secret_key), "s3", args.region)

    def sign(self, method, path, headers, payload_hash):
        """The headers to send, in order, with X-Amz-Date and Authorization added.

        Keys here need no escaping, so SigV4Auth's generic path normalisation leaves them alone. It signs every
        header given except Expect (which hops may drop), values as UTF-8 with runs of spaces collapsed, and a
        repeated header as its values joined by commas: what SigV4 asks for.
        """
        req = AWSRequest(method=method, url=self.endpoint + path)
        for name, value in [("Host", self.netloc), ("X-Amz-Content-SHA256", payload_hash)] + headers:
            req.headers[name] = value  # HTTPHeaders appends, so a repeated name stays repeated
        self.signer.add_auth(req)
        return list(req.headers.items())

    def request(self, method, path, headers=(), body=None, chunks=None):
        """Sends exactly the signed headers (no Host, Accept-Encoding or length added by http.client)."""
        payload_hash = UNSIGNED_PAYLOAD if chunks is not None else hashlib.sha256(body or b"").hexdigest()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.sign(method, path, list(headers), payload_hash):
                conn.putheader(name, value.encode("utf-8"))
            conn.endheaders()
            if body:
                conn.send(body)
            for chunk in chunks or []:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if chunks is not None:
                conn.send(b"0\r\n\r\n")
            return Response(conn.getresponse())
        finally:
            conn.close()


def length(body):
    return [("Content-Length", str(len(body)))]


class Driver:
    def __init__(self, args):
        self.http = Client(args)
        self.bucket = args.bucket

    def path(self, key=""):
        return f"/{self.bucket}/{key}" if key else f"/{self.bucket}"

    def put(self, key, body, headers=()):
        return self.http.request("PUT", self.path(key), length(body) + list(headers), body).outcome()

    def head(self, key, headers=()):
        return self.http.request("HEAD", self.path(key), headers).outcome()

    def get(self, key, headers=()):
        return self.http.request("GET", self.path(key), headers).outcome()

    def create_bucket(self):
        return self.http.request("PUT", self.path(), length(b"")).outcome()

    def content_length_zero_delete(self):
        self.put("doomed.txt", b"bye")
        deleted = self.http.request("DELETE", self.path("doomed.txt"), length(b"")).outcome()
        return {"delete": deleted, "head-after": self.head("doomed.txt")}

    def expect_100_continue_put(self):
        # http.client sends the body without waiting for 100 Continue; the final answer is what counts.
        body = small_body("expect")
        put = self.put("expect.txt", body, [("Expect", "100-continue")])
        return {"put": put, "get": self.get("expect.txt")}

    def header_spaces(self):
        put = self.put("spaces.txt", b"spaces", [("x-amz-meta-s", SPACED_VALUE)])
        return {"put": put, "head": self.head("spaces.txt")}

    def repeated_header(self):
        put = self.put("repeated.txt", b"repeated", [("x-amz-meta-r", "one"), ("x-amz-meta-r", "two")])
        return {"put": put, "head": self.head("repeated.txt")}

    def mixed_case_headers(self):
        put = self.put("case.txt", b"case", [("X-Amz-Meta-Case", "Mixed Value"), ("CONTENT-TYPE", "text/plain")])
        return {"put": put, "head": self.head("case.txt")}

    def non_ascii_header_raw(self):
        put = self.put("non-ascii.txt", b"x", [("Content-Disposition", NON_ASCII_DISPOSITION),
                                              ("x-amz-meta-na", NON_ASCII_META)])
        resp = self.http.request("HEAD", self.path("non-ascii.txt"))
        out = {"put": put, "head-status": resp.status}
        for name, sent in (("content-disposition", NON_ASCII_DISPOSITION), ("x-amz-meta-na", NON_ASCII_META)):
            got = resp.raw_header(name)
            out[name] = {"hex": got.hex() if got is not None else None, "byte-equal": got == sent.encode()}
        return out

    def chunked_upload(self):
        chunks = [small_body(f"chunk {n}") for n in range(4)]
        put = self.http.request("PUT", self.path("chunked.txt"), [("Transfer-Encoding", "chunked")],
                                chunks=chunks).outcome()
        return {"put": put, "sent-sha256": sha256(b"".join(chunks)), "get": self.get("chunked.txt")}

    def delete_bucket(self):
        listed = self.http.request("GET", self.path() + "?list-type=2")
        for key in re.findall(r"<Key>([^<]*)</Key>", listed.body.decode()):
            self.http.request("DELETE", self.path(urllib.parse.quote(key)))
        return self.http.request("DELETE", self.path()).outcome()


def main():
    args = parse_args()
    d = Driver(args)
    rec = Recorder("http.client", lambda err: None)
    rec.op("create-bucket", d.create_bucket)
    rec.op("put-small", lambda: d.put("small.txt", small_body()))
    rec.op("get", lambda: d.get("small.txt"))
    rec.op("content-length-zero-get", lambda: d.get("small.txt", length(b"")))
    rec.op("content-length-zero-head", lambda: d.head("small.txt", length(b"")))
    rec.op("content-length-zero-delete", d.content_length_zero_delete)
    rec.op("expect-100-continue-put", d.expect_100_continue_put)
    rec.op("header-spaces", d.header_spaces)
    rec.op("repeated-header", d.repeated_header)
    rec.op("mixed-case-headers", d.mixed_case_headers)
    rec.op("non-ascii-header-raw", d.non_ascii_header_raw)
    rec.op("chunked-upload", d.chunked_upload)
    rec.op("delete-bucket", d.delete_bucket)
    rec.emit()


if __name__ == "__main__":
    main()
