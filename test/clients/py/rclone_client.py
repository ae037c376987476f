"""rclone driver of the client matrix: rclone 1.60 (Debian), its remote `m:` configured entirely through the environment.

A failed call becomes {"exit": N, "error": <S3 error code, or rclone's final "Failed to ..." message>, "step": command}
(plus "status" when rclone shows one).
"""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from common import NON_ASCII_DISPOSITION, SPECIAL_KEYS, Recorder, parse_args, sha256, small_body

RCLONE = "/usr/bin/rclone"
MIB = 1024 * 1024
SYNC_DIRS, SYNC_FILES_PER_DIR = 10, 20  # 200 files
S3_ERROR = re.compile(r"\b([A-Z]\w+): [^\n]*\n?\s*status code: (\d+)")
FAILED = re.compile(r"Failed to .*")
LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
NON_ASCII_NOTE = "ünïcödé-日本"


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


def rclone_env(args, workdir):
    (workdir / "rclone.conf").touch()
    # AWS_CA_BUNDLE makes rclone 1.60 fail on plain-HTTP endpoints; no other AWS_* setting may leak in either.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        RCLONE_CONFIG=str(workdir / "rclone.conf"),
        RCLONE_CONFIG_M_TYPE="s3",
        RCLONE_CONFIG_M_PROVIDER="Ceph",
        RCLONE_CONFIG_M_ACCESS_KEY_ID=args.access_key,
        RCLONE_CONFIG_M_SECRET_ACCESS_KEY=args.secret_key,
        RCLONE_CONFIG_M_ENDPOINT=args.endpoint,
        RCLONE_CONFIG_M_REGION=args.region,
        # rclone repeats a whole failed command 3 times by default: one attempt keeps failing runs short.
        RCLONE_RETRIES="1",
    )
    return env


class Rclone:
    def __init__(self, args):
        self.workdir = Path(args.workdir).resolve()
        self.endpoint = args.endpoint
        self.env = rclone_env(args, self.workdir)

    def run(self, *argv):
        """Runs one rclone command; returns (stdout bytes, stderr text), raises CliError on a non-zero exit."""
        proc = subprocess.run([RCLONE, *argv], cwd=self.workdir, env=self.env, capture_output=True)
        stderr = proc.stderr.decode(errors="replace")
        sys.stderr.write(stderr)
        if proc.returncode != 0:
            raise CliError(argv[0], proc.returncode, *self.parse_error(stderr))
        return proc.stdout, stderr

    def parse_error(self, stderr):
        match = S3_ERROR.search(stderr)
        if match:
            return int(match.group(2)), match.group(1)
        failed = FAILED.findall(stderr)
        lines = failed or [line for line in stderr.splitlines() if line.strip()]
        return None, self.normalise(lines[-1])[:160] if lines else ""

    def normalise(self, line):
        line = LOG_PREFIX.sub("", line.strip())
        return line.replace(str(self.workdir), "<workdir>").replace(self.endpoint, "<endpoint>")

    def lines(self, *argv):
        return [line for line in self.run(*argv)[0].decode().splitlines() if line]

    def json(self, *argv):
        return json.loads(self.run(*argv)[0])

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
    """30 MiB and 100 KiB, the same bytes on every run: six 5 MiB parts and a short tail."""
    return bytes(range(256)) * ((30 * MIB + 100 * 1024) // 256)


def stat_outcome(entry):
    """The comparable fields of an lsjson entry (ModTime is the uploader's local mtime: presence only)."""
    if entry is None:
        return {"stat": None}
    out = {k: entry[k] for k in ("Path", "Size", "MimeType", "IsDir", "Hashes") if k in entry}
    out["has-mod-time"] = "ModTime" in entry
    return out


def counted(stderr, marker):
    """How many `-v` log lines carry marker, e.g. ": Copied (new)" or ": Deleted"."""
    return sum(marker in line for line in stderr.splitlines())


class Driver:
    def __init__(self, args):
        self.r = Rclone(args)
        self.b, self.lb = args.bucket, args.list_bucket

    def m(self, key=""):
        return f"m:{self.b}/{key}"

    def ok(self, *argv):
        """A command whose success is the whole outcome."""
        self.r.run(*argv)
        return {"exit": 0}

    def put(self, key, data, *extra):
        return self.ok("copyto", *extra, self.r.file(f"up/{key}", data), self.m(key))

    def stat(self, key, *extra):
        return stat_outcome(self.r.json("lsjson", "--stat", "--hash", "--files-only", *extra, self.m(key)))

    def put_multipart(self):
        # --dump headers shows every request: the part uploads are counted there.
        stderr = self.r.run("copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--dump", "headers",
                            self.r.file("up/multipart.bin", multipart_body()), self.m("multipart.bin"))[1]
        parts = sum("PUT " in line and "partNumber=" in line for line in stderr.splitlines())
        # The md5 comes from the metadata rclone stores with a multipart upload (its ETag is not an MD5).
        return {"parts": parts, **self.stat("multipart.bin")}

    def cat(self, key, *extra):
        body = self.r.run("cat", *extra, self.m(key))[0]
        return {"length": len(body), "sha256": sha256(body)}

    def get_missing(self):
        # rclone treats a missing key as a possibly empty directory: the download succeeds and copies nothing.
        # The HEAD's 404 is what leads it there, so a different answer through the proxy shows up here.
        self.r.run("copyto", self.m("missing.txt"), "missing.txt")
        return {"exit": 0, "downloaded": (self.r.workdir / "missing.txt").exists()}

    def list_dirs(self, *extra):
        # Sorted: a recursive lsf lists sub-directories concurrently, so lines come in any order.
        return {"lines": sorted(self.r.lines("lsf", *extra, f"m:{self.lb}/dirs/"))}

    def list_paginate(self):
        # --dump headers shows every request: the listing GETs are the pages.
        out, stderr = self.r.run("lsf", "--dump", "headers", f"m:{self.lb}/many/")
        keys = out.decode().split()
        pages = sum(f"GET /{self.lb}?" in line for line in stderr.splitlines())
        return {"count": len(keys), "pages": pages, "first": keys[0] if keys else None, "last": keys[-1] if keys else None}

    def copy_special_keys(self):
        # One copy uploads every key; each copyto between two remote paths is a server-side CopyObject.
        for key in SPECIAL_KEYS:
            self.r.file(f"special/{key}", small_body(key))
        self.r.run("copy", "special", self.m("special/"))
        for key in SPECIAL_KEYS:
            self.r.run("copyto", self.m(f"special/{key}"), self.m(f"special-copy/{key}"))
        listed = self.r.json("lsjson", "--hash", self.m("special-copy/"))
        return {"listed": sorted((e["Path"], e["Size"], e.get("Hashes", {}).get("md5")) for e in listed)}

    def get_special_keys(self):
        self.r.run("copy", self.m("special/"), "special-down")
        got = tree_digest(self.r.workdir / "special-down")
        return {**got, "equal": got == tree_digest(self.r.workdir / "special")}

    def non_ascii_header(self):
        self.put("non-ascii.txt", small_body("non-ascii"), "--metadata", "--metadata-set", f"note={NON_ASCII_NOTE}",
                 "--header-upload", f"Content-Disposition: {NON_ASCII_DISPOSITION}")
        meta = self.r.json("lsjson", "--stat", "--metadata", self.m("non-ascii.txt")).get("Metadata", {})
        got = {k: meta.get(k) for k in ("content-disposition", "note")}
        return {**got, "bytes-equal": got == {"content-disposition": NON_ASCII_DISPOSITION, "note": NON_ASCII_NOTE}}

    def delete_several(self):
        # rclone deletes file by file (DeleteObject each): 1.60 has no multi-object delete.
        for name in ("a", "b", "c"):
            self.r.file(f"md/{name}", small_body(name))
        self.r.run("copy", "md", self.m("md/"))
        return {"deleted": counted(self.r.run("delete", "-v", self.m("md/"))[1], ": Deleted")}

    def sync_up(self):
        for d in range(SYNC_DIRS):
            for f in range(SYNC_FILES_PER_DIR):
                self.r.file(f"sync-src/d{d:02d}/f{f:02d}.txt", small_body(f"sync {d}/{f}"))
        stderr = self.r.run("sync", "-v", "sync-src", self.m("sync/"))[1]
        return {"copied": counted(stderr, ": Copied (new)"), **tree_digest(self.r.workdir / "sync-src")}

    def sync_down(self):
        stderr = self.r.run("sync", "-v", self.m("sync/"), "sync-dst")[1]
        got = tree_digest(self.r.workdir / "sync-dst")
        return {"copied": counted(stderr, ": Copied (new)"), **got, "equal": got == tree_digest(self.r.workdir / "sync-src")}

    def check(self):
        stderr = self.r.run("check", "sync-src", self.m("sync/"))[1]
        # "NOTICE: S3 bucket B path sync: 0 differences found", "200 matching files".
        return {"summary": sorted(re.sub(r"^.*: (?=\d+ )", "", self.r.normalise(line))
                                  for line in stderr.splitlines() if "NOTICE" in line)}

    def run(self, rec):
        b = self.b
        rec.op("create-bucket", lambda: self.ok("mkdir", f"m:{b}"))
        rec.op("put-small", lambda: self.put("small.txt", small_body()))
        rec.op("put-empty", lambda: self.put("empty.txt", b""))
        rec.op("put-multipart", self.put_multipart)
        rec.op("get", lambda: self.cat("small.txt"))
        rec.op("head", lambda: self.stat("small.txt"))
        rec.op("head-missing", lambda: self.stat("missing.txt"))
        rec.op("get-missing", self.get_missing)
        rec.op("get-range", lambda: self.cat("small.txt", "--offset", "5", "--count", "100"))
        rec.op("list-v1", lambda: self.list_dirs("--s3-list-version", "1"))
        rec.op("list-v2", lambda: self.list_dirs("--s3-list-version", "2"))
        rec.op("list-recursive", lambda: self.list_dirs("--recursive", "--max-depth", "2"))
        rec.op("list-paginate", self.list_paginate)
        rec.op("copy-special-keys", self.copy_special_keys)
        rec.op("get-special-keys", self.get_special_keys)
        rec.op("non-ascii-header", self.non_ascii_header)
        rec.op("delete", lambda: self.ok("deletefile", self.m("empty.txt")))
        rec.op("delete-several", self.delete_several)
        rec.op("sync-up", self.sync_up)
        rec.op("sync-down", self.sync_down)
        rec.op("check", self.check)
        rec.op("delete-bucket", lambda: self.ok("purge", f"m:{b}"))


def main():
    args = parse_args()
    rec = Recorder("rclone", error_outcome)
    Driver(args).run(rec)
    rec.emit()


if __name__ == "__main__":
    main()
