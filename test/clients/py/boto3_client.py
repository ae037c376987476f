"""boto3 at its defaults: the matrix's operations (see common.py) through the Python SDK."""

import datetime
import time

import boto3
from botocore.exceptions import ClientError

from common import (DOT_SEGMENT_KEYS, LIST_KEY_COUNT, NON_ASCII_DISPOSITION, SPECIAL_KEYS, Recorder,
                    header_outcome, parse_args, sha256, small_body)

MIB = 1024 * 1024
NON_ASCII_METADATA = {"na": "ünï-日本"}


def error_outcome(err):
    if isinstance(err, ClientError):
        return {"status": err.response["ResponseMetadata"]["HTTPStatusCode"], "code": err.response["Error"]["Code"]}
    return None


def status(resp):
    return resp["ResponseMetadata"]["HTTPStatusCode"]


def headers(resp):
    return resp["ResponseMetadata"]["HTTPHeaders"]


def get_outcome(resp):
    return {"status": status(resp), **header_outcome(headers(resp)), "body-sha256": sha256(resp["Body"].read())}


def head_outcome(resp):
    return {"status": status(resp), **header_outcome(headers(resp))}


def wire_text(value):
    # http.client decodes response headers as latin-1: re-encoding gives the bytes that arrived, shown as UTF-8.
    return value.encode("latin-1").decode("utf-8", errors="backslashreplace")


def multipart_parts():
    # Three 5 MiB parts and a short tail, each with its own content so a reordered part changes the ETag.
    return [bytes([65 + n]) * (5 * MIB) for n in range(3)] + [b"tail\n" * 20]


class Driver:
    def __init__(self, args):
        self.s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name=args.region,
                               aws_access_key_id=args.access_key, aws_secret_access_key=args.secret_key)
        self.bucket = args.bucket
        self.list_bucket = args.list_bucket

    def create_bucket(self):
        return {"status": status(self.s3.create_bucket(Bucket=self.bucket))}

    def put(self, key, body, **extra):
        resp = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        return {"status": status(resp), "etag": resp["ETag"]}

    def put_multipart(self):
        key = "multipart.bin"
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        parts = []
        for number, data in enumerate(multipart_parts(), start=1):
            resp = self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
            parts.append({"PartNumber": number, "ETag": resp["ETag"]})
        done = self.s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                 MultipartUpload={"Parts": parts})
        return {"status": status(done), "etag": done["ETag"], "part-etags": [p["ETag"] for p in parts],
                "get": get_outcome(self.s3.get_object(Bucket=self.bucket, Key=key))}

    def get(self, key, **extra):
        return get_outcome(self.s3.get_object(Bucket=self.bucket, Key=key, **extra))

    def head(self, key):
        return head_outcome(self.s3.head_object(Bucket=self.bucket, Key=key))

    def list_dirs(self, v2):
        call = self.s3.list_objects_v2 if v2 else self.s3.list_objects
        resp = call(Bucket=self.list_bucket, Prefix="dirs/", Delimiter="/")
        out = {"status": status(resp), "keys": sorted(o["Key"] for o in resp.get("Contents", [])),
               "prefixes": sorted(p["Prefix"] for p in resp.get("CommonPrefixes", [])),
               "is-truncated": resp["IsTruncated"]}
        if v2:
            out["key-count"] = resp["KeyCount"]
        return out

    def list_paginate(self):
        pages = list(self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.list_bucket, Prefix="many/"))
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        return {"pages": len(pages), "key-count": len(keys), "first": keys[0], "last": keys[-1],
                "expected-count": LIST_KEY_COUNT, "sorted": keys == sorted(keys)}

    def copy_special_keys(self):
        out = {}
        for key in SPECIAL_KEYS:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=key.encode())
            copied = self.s3.copy_object(Bucket=self.bucket, Key="copy/" + key,
                                         CopySource={"Bucket": self.bucket, "Key": key})
            out[key] = {"copy-status": status(copied), "copy-etag": copied["CopyObjectResult"]["ETag"],
                        "head": self.head("copy/" + key)}
        return out

    def get_special_keys(self):
        out = {key: self.get(key) for key in SPECIAL_KEYS}
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="copy/")
        out["listed-copies"] = sorted(o["Key"] for o in listed.get("Contents", []))
        return out

    def delete(self):
        self.s3.put_object(Bucket=self.bucket, Key="to-delete", Body=b"bye")
        resp = self.s3.delete_object(Bucket=self.bucket, Key="to-delete")
        return {"status": status(resp), "head-after": self.outcome_of(lambda: self.head("to-delete"))}

    def multi_delete(self):
        keys = [f"multi/{n}" for n in range(3)]
        for key in keys:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=key.encode())
        resp = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys]})
        return {"status": status(resp), "deleted": sorted(d["Key"] for d in resp.get("Deleted", [])),
                "errors": resp.get("Errors", [])}

    def multi_delete_over_1000(self):
        objects = [{"Key": f"absent/{n:05d}"} for n in range(1001)]
        resp = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})
        return {"status": status(resp), "deleted": len(resp.get("Deleted", []))}

    def get_if_none_match(self):
        etag = self.s3.head_object(Bucket=self.bucket, Key="small.txt")["ETag"]
        return self.get("small.txt", IfNoneMatch=etag)

    def get_if_modified_since(self):
        # A whole second after the upload and not in the future, so second-granular servers agree.
        time.sleep(1.1)
        since = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        return self.get("small.txt", IfModifiedSince=since)

    def tagging(self):
        tags = [{"Key": "colour", "Value": "blue"}, {"Key": "size", "Value": "small"}]
        put = self.s3.put_object_tagging(Bucket=self.bucket, Key="small.txt", Tagging={"TagSet": tags})
        got = self.s3.get_object_tagging(Bucket=self.bucket, Key="small.txt")
        return {"put-status": status(put), "get-status": status(got),
                "tags": sorted((t["Key"], t["Value"]) for t in got["TagSet"])}

    def versioned_list(self):
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        key = "versioned.txt"
        puts = [self.s3.put_object(Bucket=self.bucket, Key=key, Body=f"v{n}".encode()) for n in (1, 2)]
        deleted = self.s3.delete_object(Bucket=self.bucket, Key=key)
        listed = self.s3.list_object_versions(Bucket=self.bucket, Prefix=key)
        return {"put-version-ids": ["VersionId" in p for p in puts],
                "delete-marker": deleted.get("DeleteMarker", False), "delete-version-id": "VersionId" in deleted,
                "versions": [{"is-latest": v["IsLatest"], "etag": v["ETag"], "size": v["Size"]}
                             for v in listed.get("Versions", [])],
                "delete-markers": [{"is-latest": m["IsLatest"]} for m in listed.get("DeleteMarkers", [])]}

    def non_ascii_header(self):
        # botocore sends header values as UTF-8 bytes but refuses non-ASCII metadata before sending: both recorded.
        key = "non-ascii.txt"
        put = self.put(key, b"x", ContentDisposition=NON_ASCII_DISPOSITION)
        head = self.s3.head_object(Bucket=self.bucket, Key=key)
        disposition = wire_text(headers(head).get("content-disposition", ""))
        return {"put": put, "content-disposition": disposition, "byte-equal": disposition == NON_ASCII_DISPOSITION,
                "metadata-put": self.outcome_of(lambda: self.put("non-ascii-meta.txt", b"x",
                                                                 Metadata=NON_ASCII_METADATA))}

    def dot_segment_keys(self):
        out = {key: {"put": self.outcome_of(lambda: self.put(key, key.encode())),
                     "get": self.outcome_of(lambda: self.get(key))} for key in DOT_SEGMENT_KEYS}
        listed = self.s3.list_objects_v2(Bucket=self.bucket)
        out["listed"] = sorted(o["Key"] for o in listed.get("Contents", []) if o["Key"] in DOT_SEGMENT_KEYS)
        return out

    def delete_bucket(self):
        # Empty it first, versions and delete markers included (versioned-list left some).
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if doomed:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": doomed, "Quiet": True})
        return {"status": status(self.s3.delete_bucket(Bucket=self.bucket))}

    @staticmethod
    def outcome_of(fn):
        # For a step inside an operation whose failure is part of the result.
        try:
            return fn()
        except Exception as err:  # noqa: BLE001
            return error_outcome(err) or {"exception": type(err).__name__}


def main():
    args = parse_args()
    d = Driver(args)
    rec = Recorder("boto3", error_outcome)
    rec.op("create-bucket", d.create_bucket)
    rec.op("put-small", lambda: d.put("small.txt", small_body()))
    rec.op("put-empty", lambda: d.put("empty.txt", b""))
    rec.op("put-multipart", d.put_multipart)
    rec.op("get", lambda: d.get("small.txt"))
    rec.op("head", lambda: d.head("small.txt"))
    rec.op("head-missing", lambda: d.head("missing.txt"))
    rec.op("get-missing", lambda: d.get("missing.txt"))
    rec.op("get-range", lambda: d.get("small.txt", Range="bytes=5-104"))
    rec.op("list-v1", lambda: d.list_dirs(v2=False))
    rec.op("list-v2", lambda: d.list_dirs(v2=True))
    rec.op("list-paginate", d.list_paginate)
    rec.op("copy-special-keys", d.copy_special_keys)
    rec.op("get-special-keys", d.get_special_keys)
    rec.op("delete", d.delete)
    rec.op("multi-delete", d.multi_delete)
    rec.op("multi-delete-over-1000", d.multi_delete_over_1000)
    rec.op("get-if-none-match", d.get_if_none_match)
    rec.op("get-if-modified-since", d.get_if_modified_since)
    rec.op("tagging", d.tagging)
    rec.op("non-ascii-header", d.non_ascii_header)
    rec.op("dot-segment-keys", d.dot_segment_keys)
    rec.op("versioned-list", d.versioned_list)
    rec.op("delete-bucket", d.delete_bucket)
    rec.emit()


if __name__ == "__main__":
    main()
