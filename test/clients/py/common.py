"""Shared by every client driver of the compatibility matrix (test/clients/).

A driver runs the same S3 operations with one real client against one endpoint and prints ONE JSON document
on stdout: {"client": NAME, "results": [{"op": OP, "outcome": {...}}, ...]}. The matrix runs each driver
twice, straight at RGW and through the proxy, each time on a fresh bucket, and requires equal outcomes once
bucket names are replaced. So an outcome holds only what must be equal both ways (status, error code, ETag,
sizes, ranges, body digests, key lists, whether a Last-Modified or version id is present), never values that
legitimately differ between two runs (dates, request ids, version ids themselves).
Progress and client noise go to stderr.
"""

import argparse
import hashlib
import json
import sys
import traceback

# Object names every client uses, so the table's rows mean the same thing for each.
SPECIAL_KEYS = ["with space.txt", "ünïcödé-日本.txt", "plus+sign.txt", "percent%41.txt", "hash#tag.txt"]
DOT_SEGMENT_KEYS = ["x/./y", "x/../y", ".."]
NON_ASCII_DISPOSITION = 'attachment; filename="résumé-日本.pdf"'
# The list bucket (made by the runner, read only): LIST_KEY_COUNT keys `many/00000` .. under `many/`,
# plus `dirs/a/1`, `dirs/a/2`, `dirs/b/1`, `dirs/top`.
LIST_KEY_COUNT = 1100


def small_body(tag="small"):
    return (f"hello from the client matrix: {tag}\n" * 20).encode()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT (RGW or the proxy)")
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--bucket", required=True, help="a bucket name that does not exist yet; the driver creates it")
    p.add_argument("--list-bucket", required=True, help="an existing bucket holding the listing fixture")
    p.add_argument("--workdir", required=True, help="an empty scratch directory")
    return p.parse_args()


class Recorder:
    """Runs named operations in order; an operation that raises is recorded, never fatal to the driver."""

    def __init__(self, client, error_outcome):
        self.client = client
        self.results = []
        # Maps an exception to an outcome dict such as {"status": 404, "code": "NoSuchKey"}.
        self.error_outcome = error_outcome

    def op(self, name, fn):
        sys.stderr.write(f"[{self.client}] {name}\n")
        try:
            outcome = fn()
        except Exception as err:  # noqa: BLE001 - every failure is a result
            outcome = self.error_outcome(err)
            if outcome is None:
                outcome = {"exception": type(err).__name__, "message": str(err)[:300]}
                traceback.print_exc(file=sys.stderr)
        self.results.append({"op": name, "outcome": outcome})
        return outcome

    def emit(self):
        json.dump({"client": self.client, "results": self.results}, sys.stdout, ensure_ascii=False, sort_keys=True)
        sys.stdout.write("\n")


def header_outcome(headers, names=("etag", "content-length", "content-range", "content-type")):
    """The comparable subset of response headers (names lower-case), plus presence of the varying ones."""
    lower = {k.lower(): v for k, v in headers.items()}
    out = {n: lower[n] for n in names if n in lower}
    out["has-last-modified"] = "last-modified" in lower
    if "x-amz-version-id" in lower:
        out["version-id"] = "null" if lower["x-amz-version-id"] == "null" else "<id>"
    for n, v in lower.items():
        if n.startswith("x-amz-checksum-") or n.startswith("x-amz-meta-"):
            out[n] = v
    return out
