"""Presigned URLs and POST forms made by boto3, sent by plain http.client as a browser or curl would send them.

The URL's own signature is made with whatever credentials the driver gets (junk ones through the proxy, which
drops the query signature and signs again), so what is compared is what the request does, not the URL text.
boto3 1.26 presigns with SigV2 for a custom endpoint unless told otherwise, so SigV4 is asked for explicitly and
SigV2 has its own operation.
"""

import http.client
import re
import urllib.parse
import uuid

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError

from common import Recorder, header_outcome, parse_args, sha256, small_body

KEY = "presigned.txt"
POST_FILENAME = "form-upload.txt"


def error_outcome(err):
    if isinstance(err, ClientError):
        return {"status": err.response["ResponseMetadata"]["HTTPStatusCode"], "code": err.response["Error"]["Code"]}
    return None


def send(method, url, body=None, headers=None):
    """One request exactly as given; returns (status, headers, body bytes)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def response_outcome(status, headers, body):
    if status >= 300:
        # An error body names the bucket and a request id, so only its code is comparable.
        code = re.search(rb"<Code>([^<]*)</Code>", body)
        return {"status": status, "code": code.group(1).decode() if code else None}
    out = {"status": status, **header_outcome(headers)}
    if body:
        out["body-sha256"] = sha256(body)
    return out


def form_body(fields, filename, content):
    """multipart/form-data with the file as the last field, as S3 requires."""
    boundary = "----matrix" + uuid.uuid4().hex
    lines = []
    for name, value in fields.items():
        lines.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    lines.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f'Content-Type: text/plain\r\n\r\n'.encode() + content + b"\r\n")
    lines.append(f"--{boundary}--\r\n".encode())
    return b"".join(lines), f"multipart/form-data; boundary={boundary}"


class Driver:
    def __init__(self, args):
        def client(signature_version):
            return boto3.client("s3", endpoint_url=args.endpoint, region_name=args.region,
                                aws_access_key_id=args.access_key, aws_secret_access_key=args.secret_key,
                                config=Config(signature_version=signature_version))
        self.s3 = client("s3v4")
        self.s3v2 = client("s3")
        self.bucket = args.bucket

    def url(self, method, key, client=None):
        return (client or self.s3).generate_presigned_url(method, Params={"Bucket": self.bucket, "Key": key},
                                                          ExpiresIn=900)

    def create_bucket(self):
        return {"status": self.s3.create_bucket(Bucket=self.bucket)["ResponseMetadata"]["HTTPStatusCode"]}

    def presigned_put(self):
        return response_outcome(*send("PUT", self.url("put_object", KEY), body=small_body("presigned")))

    def presigned_get(self, key=KEY):
        return response_outcome(*send("GET", self.url("get_object", key)))

    def presigned_get_sigv2(self):
        url = self.url("get_object", KEY, client=self.s3v2)
        query = sorted(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query))
        return {"query-params": query, **response_outcome(*send("GET", url))}

    def presigned_post(self, key, stored_key):
        form = self.s3.generate_presigned_post(self.bucket, key, ExpiresIn=900)
        content = small_body("posted " + key)
        body, content_type = form_body(form["fields"], POST_FILENAME, content)
        posted = response_outcome(*send("POST", form["url"], body=body, headers={"Content-Type": content_type}))
        return {"post": posted, "sent-sha256": sha256(content), "stored": self.stored(stored_key)}

    def stored(self, key):
        # Read back with the SDK, so a failed POST shows as a missing object rather than as a second error.
        try:
            got = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            return error_outcome(err)
        return {**header_outcome(got["ResponseMetadata"]["HTTPHeaders"]), "body-sha256": sha256(got["Body"].read())}

    def delete_bucket(self):
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                self.s3.delete_object(Bucket=self.bucket, Key=obj["Key"])
        return {"status": self.s3.delete_bucket(Bucket=self.bucket)["ResponseMetadata"]["HTTPStatusCode"]}


def main():
    args = parse_args()
    d = Driver(args)
    rec = Recorder("boto3-presigned", error_outcome)
    rec.op("create-bucket", d.create_bucket)
    rec.op("presigned-put", d.presigned_put)
    rec.op("presigned-get", d.presigned_get)
    rec.op("presigned-get-missing", lambda: d.presigned_get("missing.txt"))
    rec.op("presigned-get-sigv2", d.presigned_get_sigv2)
    rec.op("presigned-post", lambda: d.presigned_post("post/fixed.txt", "post/fixed.txt"))
    rec.op("presigned-post-filename", lambda: d.presigned_post("post/${filename}", "post/" + POST_FILENAME))
    rec.op("delete-bucket", d.delete_bucket)
    rec.emit()


if __name__ == "__main__":
    main()
