"""s3cmd driver of the client matrix: s3cmd 2.3 (Debian) with its own config file in the workdir.

s3cmd prints human-oriented lines; the outcomes keep them after normalisation (dates, durations, rates, the
owner's name, local paths and the endpoint taken out), because sizes, key names and MD5 sums are what must match.
A failed call becomes {"exit": N, "status": HTTP status if s3cmd names one, "error": S3 code or message, "step": command}.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from common import NON_ASCII_DISPOSITION, SPECIAL_KEYS, Recorder, parse_args, sha256, small_body

S3CMD = "/usr/bin/s3cmd"
MIB = 1024 * 1024
SYNC_DIRS, SYNC_FILES_PER_DIR = 10, 20  # 200 files
# "S3 error: 404 (NoSuchKey): ..." or, from cp, "Copy failed for: '...' (403 (SignatureDoesNotMatch))".
S3_ERROR = re.compile(r"(?:S3 error: |\()(\d{3}) \(([^)]+)\)")
# Per-line rewrites: what varies between two runs of the same operation.
NORMALISE = [
    (re.compile(r"\((\d+) bytes in [\d.]+ seconds, -?[\d.]+ \S+\)"), r"(\1 bytes)"),  # transfer duration and rate
    (re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d\s+"), ""),  # ls date column
    (re.compile(r"^(Last mod:\s+).*"), r"\1<date>"),
    (re.compile(r"^(ACL:\s+)[^:]+:"), r"\1<owner>:"),  # the owner's display name
    (re.compile(r"^(x-amz-meta-s3cmd-attrs: ).*(md5:[0-9a-f]+).*"), r"\1\2"),  # local times, uid, mode
    (re.compile(r"^Done\. .*"), "Done."),  # sync summary with duration and rate
]


class CliError(Exception):
    def __init__(self, step, exit_code, status, error):
        super().__init__(f"{step}: exit {exit_code}: {status} {error}")
        self.step, self.exit_code, self.status, self.error = step, exit_code, status, error


def error_outcome(err):
    if isinstance(err, CliError):
        out = {"exit": err.exit_code, "error": err.error, "step": err.step}
        if err.status:
            out["status"] = err.status
        return out
    return None


def write_config(args, workdir):
    """Path-style addressing (host_bucket without %(bucket)s), SigV4, plain HTTP."""
    host = urlsplit(args.endpoint).netloc
    path = workdir / "s3cfg"
    path.write_text("\n".join([
        "[default]",
        f"access_key = {args.access_key}",
        f"secret_key = {args.secret_key}",
        f"host_base = {host}",
        f"host_bucket = {host}",
        "use_https = False",
        "signature_v2 = False",
        f"bucket_location = {args.region}",
        "",
    ]))
    return path


class S3cmd:
    def __init__(self, args):
        self.workdir = Path(args.workdir).resolve()
        self.host = urlsplit(args.endpoint).netloc
        self.list_bucket = args.list_bucket
        self.config = write_config(args, self.workdir)
        # Nothing from the caller's AWS_* environment may reach s3cmd: its config file is the whole setup.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    def normalise(self, line):
        line = line.strip().replace(str(self.workdir), "<workdir>").replace(self.host, "<endpoint>")
        line = line.replace(f"s3://{self.list_bucket}/", "s3://<list-bucket>/")
        for pattern, repl in NORMALISE:
            line = pattern.sub(repl, line)
        return line

    def run(self, *argv):
        """Runs one s3cmd command; returns its normalised stdout lines, raises CliError on a non-zero exit."""
        proc = subprocess.run([S3CMD, "-c", str(self.config), "--no-progress", *argv], cwd=self.workdir,
                              env=self.env, capture_output=True, text=True)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            raise CliError(argv[0], proc.returncode, *self.parse_error(proc.stderr))
        return [self.normalise(line) for line in proc.stdout.splitlines() if line.strip()]

    def parse_error(self, stderr):
        match = S3_ERROR.search(stderr)
        if match:
            return int(match.group(1)), match.group(2)
        errors = [line for line in stderr.splitlines() if line.startswith("ERROR:")]
        lines = errors or [line for line in stderr.splitlines() if line.strip()]
        return None, self.normalise(lines[0])[:160] if lines else ""

    def file(self, rel, data):
        path = self.workdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return rel


def file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_digest(root):
    """Relative path -> sha256 of every file under root, as one digest plus the file count."""
    root = Path(root)
    files = sorted((str(p.relative_to(root)), file_sha256(p)) for p in root.rglob("*") if p.is_file())
    return {"files": len(files), "tree-sha256": sha256(json.dumps(files).encode())}


def multipart_body():
    """16 MiB, the same bytes on every run: with 5 MiB chunks, 3 full parts and a 1 MiB tail."""
    return bytes(range(256)) * (16 * MIB // 256)


def non_ascii_bytes_equal(line, expected):
    """s3cmd prints header values decoded as latin-1: undo that to compare the bytes."""
    value = line.split(": ", 1)[1] if ": " in line else ""
    return value.encode("latin-1", "replace") == expected.encode()


class Driver:
    def __init__(self, args):
        self.c = S3cmd(args)
        self.b, self.lb = args.bucket, args.list_bucket

    def s3(self, key=""):
        return f"s3://{self.b}/{key}"

    def put(self, key, data, *extra):
        return {"lines": self.c.run("put", *extra, self.c.file(f"up/{key}", data), self.s3(key))}

    def get(self, key):
        lines = self.c.run("get", "--force", self.s3(key), "down.bin")
        return {"lines": lines, "sha256": file_sha256(self.c.workdir / "down.bin")}

    def put_multipart(self):
        out = self.put("multipart.bin", multipart_body(), "--multipart-chunk-size-mb=5")
        # s3cmd shows no ETag; the listing's MD5 of a multipart object comes from the md5 s3cmd stored with it.
        return {**out, "listed": self.c.run("ls", "--list-md5", self.s3("multipart.bin"))}

    def list_paginate(self):
        prefix = len("s3://<list-bucket>/")
        keys = [line.split()[-1][prefix:] for line in self.c.run("ls", f"s3://{self.lb}/many/")]
        return {"count": len(keys), "first": keys[0] if keys else None, "last": keys[-1] if keys else None}

    def copy_special_keys(self):
        # One put uploads every key; each copy is its own server-side copy.
        files = [self.c.file(f"special/{key}", small_body(key)) for key in SPECIAL_KEYS]
        uploads = self.c.run("put", *files, self.s3("special/"))
        copies = [line for key in SPECIAL_KEYS
                  for line in self.c.run("cp", self.s3(f"special/{key}"), self.s3(f"special-copy/{key}"))]
        return {"uploads": uploads, "copies": copies, "listed": self.c.run("ls", "--list-md5", self.s3("special-copy/"))}

    def get_special_keys(self):
        (self.c.workdir / "special-down").mkdir(exist_ok=True)
        lines = self.c.run("get", "--recursive", self.s3("special/"), "special-down/")
        got = tree_digest(self.c.workdir / "special-down")
        return {"downloads": len(lines), **got, "equal": got == tree_digest(self.c.workdir / "special")}

    def non_ascii_header(self):
        # s3cmd's info shows user metadata (not Content-Disposition), so the metadata is what comes back.
        note = "ünïcödé-日本"
        self.put("non-ascii.txt", small_body("non-ascii"), f"--add-header=Content-Disposition: {NON_ASCII_DISPOSITION}",
                 f"--add-header=x-amz-meta-note: {note}")
        info = self.c.run("info", self.s3("non-ascii.txt"))
        meta = [line for line in info if line.startswith("x-amz-meta-note:")]
        return {"meta": meta, "bytes-equal": bool(meta) and non_ascii_bytes_equal(meta[0], note)}

    def multi_delete(self):
        # A recursive del lists the prefix and removes what it found with one multi-object delete.
        files = [self.c.file(f"md/{name}", small_body(name)) for name in ("a", "b", "c")]
        self.c.run("put", *files, self.s3("md/"))
        return {"lines": sorted(self.c.run("del", "--recursive", "--force", self.s3("md/")))}

    def sync_up(self):
        for d in range(SYNC_DIRS):
            for f in range(SYNC_FILES_PER_DIR):
                self.c.file(f"sync-src/d{d:02d}/f{f:02d}.txt", small_body(f"sync {d}/{f}"))
        lines = self.c.run("sync", "sync-src/", self.s3("sync/"))
        return {"uploads": sum(line.startswith("upload:") for line in lines), **tree_digest(self.c.workdir / "sync-src")}

    def sync_down(self):
        lines = self.c.run("sync", self.s3("sync/"), "sync-dst/")
        got = tree_digest(self.c.workdir / "sync-dst")
        return {"downloads": sum(line.startswith("download:") for line in lines), **got,
                "equal": got == tree_digest(self.c.workdir / "sync-src")}

    def run(self, rec):
        c, lb = self.c, self.lb
        rec.op("create-bucket", lambda: {"lines": c.run("mb", self.s3())})
        rec.op("put-small", lambda: self.put("small.txt", small_body(), "--mime-type=text/plain"))
        rec.op("put-empty", lambda: self.put("empty.txt", b""))
        rec.op("put-multipart", self.put_multipart)
        rec.op("get", lambda: self.get("small.txt"))
        rec.op("head", lambda: {"lines": c.run("info", self.s3("small.txt"))})
        rec.op("head-missing", lambda: {"lines": c.run("info", self.s3("missing.txt"))})
        rec.op("get-missing", lambda: self.get("missing.txt"))
        rec.op("list-v1", lambda: {"lines": c.run("ls", f"s3://{lb}/dirs/")})
        rec.op("list-recursive", lambda: {"lines": c.run("ls", "--recursive", f"s3://{lb}/dirs/")})
        rec.op("list-paginate", self.list_paginate)
        rec.op("copy-special-keys", self.copy_special_keys)
        rec.op("get-special-keys", self.get_special_keys)
        rec.op("non-ascii-header", self.non_ascii_header)
        rec.op("delete", lambda: {"lines": c.run("del", self.s3("empty.txt"))})
        rec.op("multi-delete", self.multi_delete)
        rec.op("sync-up", self.sync_up)
        rec.op("sync-down", self.sync_down)
        rec.op("del-recursive", lambda: {"deletes": len(c.run("del", "--recursive", "--force", self.s3()))})
        rec.op("delete-bucket", lambda: {"lines": c.run("rb", self.s3())})


def main():
    args = parse_args()
    rec = Recorder("s3cmd", error_outcome)
    Driver(args).run(rec)
    rec.emit()


if __name__ == "__main__":
    main()
