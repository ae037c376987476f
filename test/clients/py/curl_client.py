"""curl with its built-in SigV4 (--aws-sigv4), as people script S3 from a shell; `curl -T -` is the common
chunked upload without a length."""

import os
import re
import subprocess
import xml.etree.ElementTree as ET

from common import Recorder, header_outcome, parse_args, sha256, small_body

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class Result:
    def __init__(self, exit_code, stderr, status, headers, body):
        self.exit_code, self.stderr, self.status, self.headers, self.body = exit_code, stderr, status, headers, body

    def outcome(self):
        if self.exit_code != 0:
            lines = self.stderr.strip().splitlines()
            return {"exit": self.exit_code, "error": lines[-1] if lines else None}
        if self.status >= 300:
            # An error body names the bucket and a request id, so only its code is comparable.
            code = re.search(rb"<Code>([^<]*)</Code>", self.body)
            return {"status": self.status, "code": code.group(1).decode() if code else None}
        out = {"status": self.status, **header_outcome(self.headers)}
        if self.body:
            out["body-sha256"] = sha256(self.body)
        return out


def last_header_block(raw):
    """Headers of the final response in a -D dump (a 100 Continue block may come first)."""
    blocks = [b for b in raw.decode("latin-1").split("\r\n\r\n") if b.startswith("HTTP/")]
    lines = blocks[-1].split("\r\n")[1:] if blocks else []
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


class Curl:
    def __init__(self, args):
        self.endpoint = args.endpoint.rstrip("/")
        self.workdir = args.workdir
        # curl 7.88 hashes an empty payload for -T uploads and sends no x-amz-content-sha256, which S3 needs:
        # the header given here is both sent and used as the payload hash. --path-as-is: keys go out as given.
        self.base = ["curl", "-sS", "--path-as-is", "--aws-sigv4", f"aws:amz:{args.region}:s3",
                     "--user", f"{args.access_key}:{args.secret_key}", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]

    def run(self, path, *options, stdin=None):
        head_file = os.path.join(self.workdir, "headers")
        body_file = os.path.join(self.workdir, "body")
        for name in (head_file, body_file):
            if os.path.exists(name):
                os.remove(name)
        cmd = self.base + list(options) + ["-D", head_file, "-o", body_file, "-w", "%{http_code}",
                                           self.endpoint + path]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120)
        status = int(proc.stdout or b"0")
        # With -I curl writes the header dump to -o too: a HEAD has no body to report.
        body = b"" if "-I" in options else read(body_file)
        return Result(proc.returncode, proc.stderr.decode(errors="replace"), status,
                      last_header_block(read(head_file)), body)

    def write(self, name, data):
        path = os.path.join(self.workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path


def read(path):
    if not os.path.exists(path):
        return b""
    with open(path, "rb") as f:
        return f.read()


def list_outcome(result):
    if result.status != 200:
        return result.outcome()
    root = ET.fromstring(result.body)
    return {"status": result.status,
            "keys": sorted(e.findtext(S3_NS + "Key") for e in root.findall(S3_NS + "Contents")),
            "prefixes": sorted(e.findtext(S3_NS + "Prefix") for e in root.findall(S3_NS + "CommonPrefixes")),
            "key-count": int(root.findtext(S3_NS + "KeyCount")),
            "is-truncated": root.findtext(S3_NS + "IsTruncated") == "true"}


class Driver:
    def __init__(self, args):
        self.curl = Curl(args)
        self.bucket = args.bucket
        self.list_bucket = args.list_bucket

    def path(self, key=""):
        return f"/{self.bucket}/{key}" if key else f"/{self.bucket}"

    def put_file(self, key, data):
        return self.curl.run(self.path(key), "-T", self.curl.write("upload", data)).outcome()

    def put_stdin_chunked(self):
        # `-T -` cannot know the length: curl sends Transfer-Encoding: chunked.
        data = small_body("stdin")
        put = self.curl.run(self.path("stdin.txt"), "-T", "-", stdin=data).outcome()
        return {"put": put, "sent-sha256": sha256(data), "get": self.get("stdin.txt")}

    def get(self, key, *options):
        return self.curl.run(self.path(key), *options).outcome()

    def head(self, key):
        return self.curl.run(self.path(key), "-I").outcome()

    def list_v2(self):
        # Parameters already in canonical (sorted, encoded) order: curl 7.88 signs the query as written.
        query = "?delimiter=%2F&list-type=2&prefix=dirs%2F"
        return list_outcome(self.curl.run(f"/{self.list_bucket}{query}"))

    def delete(self):
        self.put_file("doomed.txt", b"bye")
        deleted = self.curl.run(self.path("doomed.txt"), "-X", "DELETE").outcome()
        return {"delete": deleted, "head-after": self.head("doomed.txt")}

    def delete_bucket(self):
        listed = self.curl.run(self.path() + "?list-type=2")
        for key in re.findall(rb"<Key>([^<]*)</Key>", listed.body):
            self.curl.run(self.path(key.decode()), "-X", "DELETE")
        return self.curl.run(self.path(), "-X", "DELETE").outcome()


def main():
    args = parse_args()
    d = Driver(args)
    rec = Recorder("curl", lambda err: None)
    rec.op("create-bucket", lambda: d.curl.run(d.path(), "-X", "PUT").outcome())
    rec.op("put-small", lambda: d.put_file("small.txt", small_body()))
    rec.op("put-stdin-chunked", d.put_stdin_chunked)
    rec.op("get", lambda: d.get("small.txt"))
    rec.op("head", lambda: d.head("small.txt"))
    rec.op("head-missing", lambda: d.head("missing.txt"))
    rec.op("get-range", lambda: d.get("small.txt", "-r", "5-104"))
    rec.op("list-v2", d.list_v2)
    rec.op("delete", d.delete)
    rec.op("delete-bucket", d.delete_bucket)
    rec.emit()


if __name__ == "__main__":
    main()
