"""aws-cli driver of the client matrix: the Debian AWS CLI v2 (/usr/bin/aws), `s3api` and the high-level `s3` commands.

Each operation runs the CLI as a subprocess configured only through its environment, with the local files in
the workdir (cwd) so that the CLI's own output names them relatively and is equal from run to run.
A failed call becomes {"exit": N, "status": HTTP status, "error": S3 error code (or the status when the answer
has no body), "step": command}, or {"exit": N, "error": <short message>, "step": ...} when no request failed.
"""

import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from common import DOT_SEGMENT_KEYS, NON_ASCII_DISPOSITION, SPECIAL_KEYS, Recorder, parse_args, sha256, small_body

AWS = "/usr/bin/aws"  # the Debian package; the `aws` on PATH is a pyenv shim
MIB = 1024 * 1024
SYNC_DIRS, SYNC_FILES_PER_DIR = 10, 20  # 200 files
# In the --debug log: every response's status line, and the error body's code.
HTTP_STATUS = re.compile(r'urllib3\.connectionpool - DEBUG - \S+ "[A-Z]+ \S+ HTTP/1\.1" (\d{3}) ')
ERROR_CODE = re.compile(r"<Code>([^<]+)</Code>")


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


def cli_env(args, workdir):
    """The process environment minus any inherited AWS_* setting, plus the run's own configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    (workdir / "aws-empty").touch()
    env.update(
        AWS_ACCESS_KEY_ID=args.access_key,
        AWS_SECRET_ACCESS_KEY=args.secret_key,
        AWS_DEFAULT_REGION=args.region,
        AWS_DEFAULT_OUTPUT="json",
        AWS_CONFIG_FILE=str(workdir / "aws-empty"),
        AWS_SHARED_CREDENTIALS_FILE=str(workdir / "aws-empty"),
        AWS_PAGER="",
    )
    return env


class Aws:
    def __init__(self, args):
        self.workdir = Path(args.workdir).resolve()
        self.endpoint = args.endpoint
        self.env = cli_env(args, self.workdir)

    def normalise(self, text):
        """Paths and the endpoint differ between runs; the runner replaces bucket names itself."""
        return text.replace(str(self.workdir), "<workdir>").replace(self.endpoint, "<endpoint>")

    def run(self, *argv):
        """Runs one CLI call; returns stdout, raises CliError on a non-zero exit.

        --debug because the CLI's own message can hide the S3 error: RGW answers errors with an empty <Message/>,
        on which the CLI's error-message hook crashes ("argument of type 'NoneType' is not iterable").
        """
        proc = subprocess.run([AWS, "--debug", "--endpoint-url", self.endpoint, *argv], cwd=self.workdir,
                              env=self.env, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
            message = self.normalise(lines[-1]) if lines else ""
            sys.stderr.write(f"aws {' '.join(argv[:2])}: exit {proc.returncode}: {message}\n")
            raise CliError(" ".join(argv[:2]), proc.returncode, *self.parse_error(proc.stderr, message))
        return proc.stdout

    @staticmethod
    def parse_error(debug_log, message):
        """(status, S3 error code) of the last failed response in the log; (None, message) if none failed."""
        failed = [m for m in HTTP_STATUS.finditer(debug_log) if int(m.group(1)) >= 300]
        if not failed:
            return None, message[:160]
        code = ERROR_CODE.search(debug_log, failed[-1].end())
        return int(failed[-1].group(1)), code.group(1) if code else failed[-1].group(1)

    def api(self, *argv):
        """An `s3api` call; its JSON answer (empty for operations that answer nothing)."""
        out = self.run("s3api", *argv)
        return json.loads(out) if out.strip() else {}

    def s3(self, *argv):
        """A high-level `s3` call; its output lines, sorted (transfers run in parallel, so lines come in any order)."""
        # Transfers print progress even when stdout is not a terminal.
        quiet = ["--no-progress"] if argv[0] in ("cp", "mv", "sync") else []
        out = self.run("s3", *argv, *quiet)
        return sorted(self.normalise(line.strip()) for line in out.splitlines() if line.strip())

    def file(self, rel, data):
        path = self.workdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return rel


def object_outcome(answer, keys=("ETag", "ContentLength", "ContentRange", "ContentType")):
    """The comparable fields of a get-object / head-object / put-object answer."""
    out = {k: answer[k] for k in keys if k in answer}
    out["has-last-modified"] = "LastModified" in answer
    if "VersionId" in answer:
        out["version-id"] = "null" if answer["VersionId"] == "null" else "<id>"
    return out


def file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_digest(root):
    """Relative path -> sha256 of every file under root, as one digest plus the file count."""
    root = Path(root)
    files = sorted((str(p.relative_to(root)), file_sha256(p)) for p in root.rglob("*") if p.is_file())
    return {"files": len(files), "tree-sha256": sha256(json.dumps(files).encode())}


def multipart_body():
    """20 MiB, the same bytes on every run so the multipart ETag is comparable."""
    return bytes(range(256)) * (20 * MIB // 256)


class Driver:
    def __init__(self, args):
        self.aws = Aws(args)
        self.b, self.lb = args.bucket, args.list_bucket

    def create_bucket(self):
        return {"exit": 0, **self.aws.api("create-bucket", "--bucket", self.b)}

    def put(self, key, data, *extra):
        # The local file is named by a digest: keys such as ".." or "x/./y" are no usable file names.
        body = self.aws.file(f"up/{sha256(key.encode())}", data)
        return object_outcome(self.aws.api("put-object", "--bucket", self.b, "--key", key, "--body", body, *extra))

    def put_multipart(self):
        # `aws s3 cp` switches to multipart above 8 MiB (its default threshold and part size).
        self.aws.s3("cp", self.aws.file("multipart.bin", multipart_body()), f"s3://{self.b}/multipart.bin")
        head = self.aws.api("head-object", "--bucket", self.b, "--key", "multipart.bin")
        out = object_outcome(head)
        out["etag-parts"] = int(head["ETag"].strip('"').partition("-")[2] or 0)
        return out

    def get(self, key, *extra):
        answer = self.aws.api("get-object", "--bucket", self.b, "--key", key, *extra, "down.bin")
        return {**object_outcome(answer), "sha256": file_sha256(self.aws.workdir / "down.bin")}

    def head(self, key):
        return object_outcome(self.aws.api("head-object", "--bucket", self.b, "--key", key))

    def list_dirs(self, command):
        answer = self.aws.api(command, "--bucket", self.lb, "--prefix", "dirs/", "--delimiter", "/", "--no-paginate")
        return {
            "keys": sorted(c["Key"] for c in answer.get("Contents", [])),
            "prefixes": sorted(p["Prefix"] for p in answer.get("CommonPrefixes", [])),
            "IsTruncated": answer.get("IsTruncated"),
        }

    def list_paginate(self):
        """Pages by hand (--no-paginate + continuation token) so the page count is visible."""
        keys, pages, token = [], [], []
        while True:
            answer = self.aws.api("list-objects-v2", "--bucket", self.lb, "--prefix", "many/", "--no-paginate", *token)
            page = [c["Key"] for c in answer.get("Contents", [])]
            keys += page
            pages.append({"count": len(page), "IsTruncated": answer["IsTruncated"]})
            # A bounded loop: a listing that never ends must still end the driver.
            if not answer["IsTruncated"] or len(pages) >= 10:
                break
            token = ["--continuation-token", answer["NextContinuationToken"]]
        return {"count": len(keys), "pages": pages, "first": keys[0] if keys else None, "last": keys[-1] if keys else None}

    def copy_special_keys(self):
        # One recursive upload puts every key and one recursive copy makes a CopyObject per key, which is where
        # the CLI has to encode the copy source; a listing then shows each copy's ETag and size.
        for key in SPECIAL_KEYS:
            self.aws.file(f"special/{key}", small_body(key))
        uploads = self.aws.s3("cp", "--recursive", "special", f"s3://{self.b}/special/")
        copies = self.aws.s3("cp", "--recursive", f"s3://{self.b}/special/", f"s3://{self.b}/special-copy/")
        listed = self.aws.api("list-objects-v2", "--bucket", self.b, "--prefix", "special-copy/")
        return {
            "uploads": uploads,
            "copies": copies,
            "listed": {c["Key"]: {"ETag": c["ETag"], "Size": c["Size"]} for c in listed.get("Contents", [])},
        }

    def get_special_keys(self):
        self.aws.s3("cp", "--recursive", f"s3://{self.b}/special/", "special-down")
        got = tree_digest(self.aws.workdir / "special-down")
        return {**got, "equal": got == tree_digest(self.aws.workdir / "special")}

    def delete(self):
        return {"exit": 0, **self.aws.api("delete-object", "--bucket", self.b, "--key", "empty.txt")}

    def multi_delete(self, keys):
        spec = self.aws.file("delete.json", json.dumps({"Objects": [{"Key": k} for k in keys]}).encode())
        answer = self.aws.api("delete-objects", "--bucket", self.b, "--delete", f"file://{spec}")
        return {
            "deleted": sorted(d["Key"] for d in answer.get("Deleted", [])),
            "errors": sorted((e["Key"], e["Code"]) for e in answer.get("Errors", [])),
        }

    def multi_delete_3(self):
        for name in ("a", "b", "c"):
            self.aws.file(f"md/{name}", small_body(name))
        self.aws.s3("cp", "--recursive", "md", f"s3://{self.b}/md/")
        return self.multi_delete([f"md/{name}" for name in ("a", "b", "c")])

    def get_if_none_match(self):
        etag = '"%s"' % hashlib.md5(small_body()).hexdigest()  # small.txt's ETag, known without a HEAD
        return self.get("small.txt", "--if-none-match", etag)

    def get_if_modified_since(self):
        # Now is after the upload of small.txt, so the object is not modified since then: 304.
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.get("small.txt", "--if-modified-since", now)

    def tagging(self):
        tags = '{"TagSet": [{"Key": "colour", "Value": "blue"}, {"Key": "size", "Value": "small"}]}'
        self.aws.api("put-object-tagging", "--bucket", self.b, "--key", "small.txt", "--tagging", tags)
        answer = self.aws.api("get-object-tagging", "--bucket", self.b, "--key", "small.txt")
        return {"tags": sorted((t["Key"], t["Value"]) for t in answer["TagSet"])}

    def non_ascii_header(self):
        # botocore refuses non-ASCII user metadata before sending, so only Content-Disposition carries it.
        self.put("non-ascii.txt", small_body("non-ascii"), "--content-disposition", NON_ASCII_DISPOSITION)
        head = self.aws.api("head-object", "--bucket", self.b, "--key", "non-ascii.txt")
        value = head.get("ContentDisposition", "")
        # http.client decodes response headers as latin-1: undo that to compare the bytes.
        return {"ContentDisposition": value, "bytes-equal": value.encode("latin-1", "replace") == NON_ASCII_DISPOSITION.encode()}

    def dot_segment_keys(self):
        per_key = {}
        for key in DOT_SEGMENT_KEYS:
            per_key[key] = {"put": self.attempt(lambda: self.put(key, small_body(key))["ETag"]),
                            "get": self.attempt(lambda: self.get(key)["sha256"] == sha256(small_body(key)))}
        listed = self.attempt(lambda: sorted(
            c["Key"] for c in self.aws.api("list-objects-v2", "--bucket", self.b).get("Contents", [])
            if c["Key"] in DOT_SEGMENT_KEYS))
        return {"keys": per_key, "listed": listed}

    def attempt(self, fn):
        """Per-key steps: a failure is that key's result, the others still run."""
        try:
            return fn()
        except CliError as err:
            return error_outcome(err)

    def s3_cp_up(self):
        return {"lines": self.aws.s3("cp", self.aws.file("cp-up.txt", small_body("cp")), f"s3://{self.b}/cp/up.txt")}

    def s3_cp_down(self):
        lines = self.aws.s3("cp", f"s3://{self.b}/cp/up.txt", "cp-down.txt")
        return {"lines": lines, "sha256": file_sha256(self.aws.workdir / "cp-down.txt")}

    def s3_ls(self):
        # Drop the date and time columns: "2024-01-01 12:00:00       800 up.txt" -> "800 up.txt".
        lines = self.aws.s3("ls", f"s3://{self.b}/cp/")
        return {"lines": [re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+", "", line) for line in lines]}

    def sync_up(self):
        for d in range(SYNC_DIRS):
            for f in range(SYNC_FILES_PER_DIR):
                self.aws.file(f"sync-src/d{d:02d}/f{f:02d}.txt", small_body(f"sync {d}/{f}"))
        lines = self.aws.s3("sync", "sync-src", f"s3://{self.b}/sync/")
        return {"uploads": sum(line.startswith("upload:") for line in lines), **tree_digest(self.aws.workdir / "sync-src")}

    def sync_down(self):
        lines = self.aws.s3("sync", f"s3://{self.b}/sync/", "sync-dst")
        got = tree_digest(self.aws.workdir / "sync-dst")
        return {"downloads": sum(line.startswith("download:") for line in lines), **got,
                "equal": got == tree_digest(self.aws.workdir / "sync-src")}

    def versioned_list(self):
        self.aws.api("put-bucket-versioning", "--bucket", self.b, "--versioning-configuration", "Status=Enabled")
        puts = [self.put("versioned.txt", small_body(f"v{n}")) for n in (1, 2)]
        deleted = self.aws.api("delete-object", "--bucket", self.b, "--key", "versioned.txt")
        answer = self.aws.api("list-object-versions", "--bucket", self.b, "--prefix", "versioned.txt")
        return {
            "puts": puts,
            "delete-marker": deleted.get("DeleteMarker"),
            "versions": [v["IsLatest"] for v in answer.get("Versions", [])],
            "markers": [m["IsLatest"] for m in answer.get("DeleteMarkers", [])],
        }

    def delete_versions(self):
        """rb --force removes current objects only: every version and delete marker goes first."""
        answer = self.aws.api("list-object-versions", "--bucket", self.b)
        entries = answer.get("Versions", []) + answer.get("DeleteMarkers", [])
        objects = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries]
        if not objects:
            return {"deleted": 0}
        spec = self.aws.file("delete-versions.json", json.dumps({"Objects": objects}).encode())
        result = self.aws.api("delete-objects", "--bucket", self.b, "--delete", f"file://{spec}")
        return {"deleted": len(result.get("Deleted", [])), "errors": sorted(e["Code"] for e in result.get("Errors", []))}

    def run(self, rec):
        b = self.b
        rec.op("create-bucket", self.create_bucket)
        rec.op("put-small", lambda: self.put("small.txt", small_body(), "--content-type", "text/plain"))
        rec.op("put-empty", lambda: self.put("empty.txt", b""))
        rec.op("put-multipart", self.put_multipart)
        rec.op("get", lambda: self.get("small.txt"))
        rec.op("head", lambda: self.head("small.txt"))
        rec.op("head-missing", lambda: self.head("missing.txt"))
        rec.op("get-missing", lambda: self.get("missing.txt"))
        rec.op("get-range", lambda: self.get("small.txt", "--range", "bytes=5-104"))
        rec.op("list-v1", lambda: self.list_dirs("list-objects"))
        rec.op("list-v2", lambda: self.list_dirs("list-objects-v2"))
        rec.op("list-paginate", self.list_paginate)
        rec.op("copy-special-keys", self.copy_special_keys)
        rec.op("get-special-keys", self.get_special_keys)
        rec.op("get-if-none-match", self.get_if_none_match)
        rec.op("get-if-modified-since", self.get_if_modified_since)
        rec.op("tagging", self.tagging)
        rec.op("non-ascii-header", self.non_ascii_header)
        rec.op("dot-segment-keys", self.dot_segment_keys)
        rec.op("delete", self.delete)
        rec.op("multi-delete", self.multi_delete_3)
        rec.op("multi-delete-over-1000", lambda: self.multi_delete([f"over/{n:05d}" for n in range(1001)]))
        rec.op("s3-cp-up", self.s3_cp_up)
        rec.op("s3-cp-down", self.s3_cp_down)
        rec.op("s3-ls", self.s3_ls)
        rec.op("s3-mv", lambda: {"lines": self.aws.s3("mv", f"s3://{b}/cp/up.txt", f"s3://{b}/cp/moved.txt")})
        rec.op("s3-rm", lambda: {"lines": self.aws.s3("rm", f"s3://{b}/cp/moved.txt")})
        rec.op("sync-up", self.sync_up)
        rec.op("sync-down", self.sync_down)
        rec.op("s3-rm-recursive", lambda: {"deletes": len(self.aws.s3("rm", "--recursive", f"s3://{b}/sync/"))})
        # Versioning last: once it is on, every delete leaves a marker behind.
        rec.op("versioned-list", self.versioned_list)
        rec.op("delete-versions", self.delete_versions)
        rec.op("delete-bucket", lambda: {"lines": self.aws.s3("rb", "--force", f"s3://{b}")})


def main():
    args = parse_args()
    rec = Recorder("aws-cli", error_outcome)
    Driver(args).run(rec)
    rec.emit()


if __name__ == "__main__":
    main()
