// AWS SDK for Go v2 at its defaults: the client matrix's operations (contract: test/clients/py/common.py).
//
// Only what an application must set to reach a custom endpoint differs from the defaults: static credentials,
// the region, an endpoint resolver returning the endpoint, and path-style addressing. Built offline from
// Debian's golang-github-aws-aws-sdk-go-v2-dev by build.sh (GOPATH mode, no module proxy).
//
// Prints ONE JSON document on stdout: {"client": "go-sdk-v2", "results": [{"op": OP, "outcome": {...}}]};
// progress goes to stderr; exits 0 even when operations fail.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const clientName = "go-sdk-v2"
const mib = 1024 * 1024

// The same names as common.py, so the table's rows mean the same thing for each client.
var specialKeys = []string{"with space.txt", "ünïcödé-日本.txt", "plus+sign.txt", "percent%41.txt", "hash#tag.txt"}
var dotSegmentKeys = []string{"x/./y", "x/../y", ".."}

const listKeyCount = 1100

type outcome = map[string]any

func smallBody(tag string) []byte {
	return []byte(strings.Repeat(fmt.Sprintf("hello from the client matrix: %s\n", tag), 20))
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// multipartBody is common.py's three 5 MiB parts (each its own content, so a reordered part changes the ETag)
// plus a short tail; the Uploader's default 5 MiB part size splits it back into exactly those four parts.
func multipartBody() []byte {
	var buf bytes.Buffer
	for n := 0; n < 3; n++ {
		buf.Write(bytes.Repeat([]byte{byte(65 + n)}, 5*mib))
	}
	buf.WriteString(strings.Repeat("tail\n", 20))
	return buf.Bytes()
}

// errorOutcome maps an SDK error to {"status": N, "code": "..."}; anything else to its type and message.
func errorOutcome(err error) outcome {
	out := outcome{}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		out["status"] = respErr.HTTPStatusCode()
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		out["code"] = apiErr.ErrorCode()
	}
	if len(out) > 0 {
		return out
	}
	inner := err
	for errors.Unwrap(inner) != nil {
		inner = errors.Unwrap(inner)
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return outcome{"exception": fmt.Sprintf("%T", inner), "message": msg}
}

// outcomeOf runs a step inside an operation whose failure is part of the result.
func outcomeOf(fn func() (outcome, error)) outcome {
	out, err := fn()
	if err != nil {
		return errorOutcome(err)
	}
	return out
}

func rawResponse(md middleware.Metadata) *smithyhttp.Response {
	resp, _ := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	return resp
}

func status(md middleware.Metadata) int {
	if resp := rawResponse(md); resp != nil {
		return resp.StatusCode
	}
	return 0
}

// headerOutcome is common.py's header_outcome: the comparable subset of response headers (names lower-case),
// plus presence of the varying ones.
func headerOutcome(md middleware.Metadata) outcome {
	lower := map[string]string{}
	if resp := rawResponse(md); resp != nil {
		for name, values := range resp.Header {
			lower[strings.ToLower(name)] = strings.Join(values, ", ")
		}
		// net/http moves these out of the header map in some cases; put them back from the response itself.
		if _, ok := lower["content-length"]; !ok && resp.ContentLength >= 0 {
			lower["content-length"] = fmt.Sprint(resp.ContentLength)
		}
	}
	out := outcome{}
	for _, name := range []string{"etag", "content-length", "content-range", "content-type"} {
		if v, ok := lower[name]; ok {
			out[name] = v
		}
	}
	_, out["has-last-modified"] = lower["last-modified"]
	if v, ok := lower["x-amz-version-id"]; ok {
		if v == "null" {
			out["version-id"] = "null"
		} else {
			out["version-id"] = "<id>"
		}
	}
	for name, v := range lower {
		if strings.HasPrefix(name, "x-amz-checksum-") || strings.HasPrefix(name, "x-amz-meta-") {
			out[name] = v
		}
	}
	return out
}

// copySource is what CopyObject wants: "bucket/key" with the key URL-encoded (RFC 3986 unreserved kept).
func copySource(bucket, key string) string {
	var b strings.Builder
	for _, c := range []byte(key) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return bucket + "/" + b.String()
}

type driver struct {
	ctx        context.Context
	s3         *s3.Client
	bucket     string
	listBucket string
}

func newDriver(ctx context.Context, endpoint, accessKey, secretKey, region, bucket, listBucket string) (*driver, error) {
	resolver := aws.EndpointResolverWithOptionsFunc(func(service, reg string, _ ...interface{}) (aws.Endpoint, error) {
		return aws.Endpoint{URL: endpoint, SigningRegion: region, Source: aws.EndpointSourceCustom}, nil
	})
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")),
		config.WithEndpointResolverWithOptions(resolver),
	)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	return &driver{ctx: ctx, s3: client, bucket: bucket, listBucket: listBucket}, nil
}

func (d *driver) createBucket() (outcome, error) {
	out, err := d.s3.CreateBucket(d.ctx, &s3.CreateBucketInput{Bucket: aws.String(d.bucket)})
	if err != nil {
		return nil, err
	}
	return outcome{"status": status(out.ResultMetadata)}, nil
}

func (d *driver) put(key string, body []byte) (outcome, error) {
	out, err := d.s3.PutObject(d.ctx, &s3.PutObjectInput{
		Bucket: aws.String(d.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		return nil, err
	}
	return outcome{"status": status(out.ResultMetadata), "etag": aws.ToString(out.ETag)}, nil
}

func (d *driver) putMultipart() (outcome, error) {
	key := "multipart.bin"
	uploader := manager.NewUploader(d.s3) // defaults: 5 MiB parts, 5 concurrent part uploads
	up, err := uploader.Upload(d.ctx, &s3.PutObjectInput{
		Bucket: aws.String(d.bucket), Key: aws.String(key), Body: bytes.NewReader(multipartBody()),
	})
	if err != nil {
		return nil, err
	}
	parts := append([]types.CompletedPart(nil), up.CompletedParts...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	partETags := []string{}
	for _, p := range parts {
		partETags = append(partETags, aws.ToString(p.ETag))
	}
	got, err := d.get(key, nil)
	if err != nil {
		return nil, err
	}
	return outcome{"etag": aws.ToString(up.ETag), "multipart": up.UploadID != "", "part-etags": partETags,
		"get": got}, nil
}

func (d *driver) get(key string, tweak func(*s3.GetObjectInput)) (outcome, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(key)}
	if tweak != nil {
		tweak(in)
	}
	out, err := d.s3.GetObject(d.ctx, in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, err
	}
	res := headerOutcome(out.ResultMetadata)
	res["status"] = status(out.ResultMetadata)
	res["body-sha256"] = digest(body)
	return res, nil
}

func (d *driver) head(key string) (outcome, error) {
	out, err := d.s3.HeadObject(d.ctx, &s3.HeadObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	res := headerOutcome(out.ResultMetadata)
	res["status"] = status(out.ResultMetadata)
	return res, nil
}

func objectKeys(objects []types.Object) []string {
	keys := []string{}
	for _, o := range objects {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func prefixes(common []types.CommonPrefix) []string {
	out := []string{}
	for _, p := range common {
		out = append(out, aws.ToString(p.Prefix))
	}
	sort.Strings(out)
	return out
}

func sorted(keys []string) []string {
	out := append([]string{}, keys...)
	sort.Strings(out)
	return out
}

func (d *driver) listV1() (outcome, error) {
	out, err := d.s3.ListObjects(d.ctx, &s3.ListObjectsInput{
		Bucket: aws.String(d.listBucket), Prefix: aws.String("dirs/"), Delimiter: aws.String("/"),
	})
	if err != nil {
		return nil, err
	}
	return outcome{"status": status(out.ResultMetadata), "keys": sorted(objectKeys(out.Contents)),
		"prefixes": prefixes(out.CommonPrefixes), "is-truncated": out.IsTruncated}, nil
}

func (d *driver) listV2() (outcome, error) {
	out, err := d.s3.ListObjectsV2(d.ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(d.listBucket), Prefix: aws.String("dirs/"), Delimiter: aws.String("/"),
	})
	if err != nil {
		return nil, err
	}
	return outcome{"status": status(out.ResultMetadata), "keys": sorted(objectKeys(out.Contents)),
		"prefixes": prefixes(out.CommonPrefixes), "is-truncated": out.IsTruncated, "key-count": out.KeyCount}, nil
}

func (d *driver) listPaginate() (outcome, error) {
	pager := s3.NewListObjectsV2Paginator(d.s3, &s3.ListObjectsV2Input{
		Bucket: aws.String(d.listBucket), Prefix: aws.String("many/"),
	})
	pages := 0
	keys := []string{}
	for pager.HasMorePages() {
		page, err := pager.NextPage(d.ctx)
		if err != nil {
			return nil, err
		}
		pages++
		keys = append(keys, objectKeys(page.Contents)...)
	}
	res := outcome{"pages": pages, "key-count": len(keys), "expected-count": listKeyCount,
		"sorted": sort.StringsAreSorted(keys)}
	if len(keys) > 0 {
		res["first"], res["last"] = keys[0], keys[len(keys)-1]
	}
	return res, nil
}

func (d *driver) copySpecialKeys() (outcome, error) {
	res := outcome{}
	for _, key := range specialKeys {
		if _, err := d.put(key, []byte(key)); err != nil {
			return nil, err
		}
		copied, err := d.s3.CopyObject(d.ctx, &s3.CopyObjectInput{
			Bucket: aws.String(d.bucket), Key: aws.String("copy/" + key), CopySource: aws.String(copySource(d.bucket, key)),
		})
		if err != nil {
			return nil, err
		}
		head, err := d.head("copy/" + key)
		if err != nil {
			return nil, err
		}
		etag := ""
		if copied.CopyObjectResult != nil {
			etag = aws.ToString(copied.CopyObjectResult.ETag)
		}
		res[key] = outcome{"copy-status": status(copied.ResultMetadata), "copy-etag": etag, "head": head}
	}
	return res, nil
}

func (d *driver) getSpecialKeys() (outcome, error) {
	res := outcome{}
	for _, key := range specialKeys {
		got, err := d.get(key, nil)
		if err != nil {
			return nil, err
		}
		res[key] = got
	}
	listed, err := d.s3.ListObjectsV2(d.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(d.bucket), Prefix: aws.String("copy/")})
	if err != nil {
		return nil, err
	}
	res["listed-copies"] = sorted(objectKeys(listed.Contents))
	return res, nil
}

func (d *driver) delete() (outcome, error) {
	if _, err := d.put("to-delete", []byte("bye")); err != nil {
		return nil, err
	}
	out, err := d.s3.DeleteObject(d.ctx, &s3.DeleteObjectInput{Bucket: aws.String(d.bucket), Key: aws.String("to-delete")})
	if err != nil {
		return nil, err
	}
	return outcome{"status": status(out.ResultMetadata),
		"head-after": outcomeOf(func() (outcome, error) { return d.head("to-delete") })}, nil
}

func (d *driver) deleteObjects(keys []string) (*s3.DeleteObjectsOutput, error) {
	objects := make([]types.ObjectIdentifier, 0, len(keys))
	for _, k := range keys {
		objects = append(objects, types.ObjectIdentifier{Key: aws.String(k)})
	}
	return d.s3.DeleteObjects(d.ctx, &s3.DeleteObjectsInput{Bucket: aws.String(d.bucket), Delete: &types.Delete{Objects: objects}})
}

func (d *driver) multiDelete() (outcome, error) {
	keys := []string{"multi/0", "multi/1", "multi/2"}
	for _, k := range keys {
		if _, err := d.put(k, []byte(k)); err != nil {
			return nil, err
		}
	}
	out, err := d.deleteObjects(keys)
	if err != nil {
		return nil, err
	}
	deleted := []string{}
	for _, o := range out.Deleted {
		deleted = append(deleted, aws.ToString(o.Key))
	}
	failed := []outcome{}
	for _, e := range out.Errors {
		failed = append(failed, outcome{"Key": aws.ToString(e.Key), "Code": aws.ToString(e.Code)})
	}
	return outcome{"status": status(out.ResultMetadata), "deleted": sorted(deleted), "errors": failed}, nil
}

func (d *driver) multiDeleteOver1000() (outcome, error) {
	keys := make([]string, 0, 1001)
	for n := 0; n < 1001; n++ {
		keys = append(keys, fmt.Sprintf("absent/%05d", n))
	}
	out, err := d.deleteObjects(keys)
	if err != nil {
		return nil, err
	}
	return outcome{"status": status(out.ResultMetadata), "deleted": len(out.Deleted)}, nil
}

func (d *driver) getIfNoneMatch() (outcome, error) {
	head, err := d.s3.HeadObject(d.ctx, &s3.HeadObjectInput{Bucket: aws.String(d.bucket), Key: aws.String("small.txt")})
	if err != nil {
		return nil, err
	}
	return d.get("small.txt", func(in *s3.GetObjectInput) { in.IfNoneMatch = head.ETag })
}

func (d *driver) getIfModifiedSince() (outcome, error) {
	// A whole second after the upload and not in the future, so second-granular servers agree.
	time.Sleep(1100 * time.Millisecond)
	since := time.Now().UTC().Truncate(time.Second)
	return d.get("small.txt", func(in *s3.GetObjectInput) { in.IfModifiedSince = aws.Time(since) })
}

func (d *driver) tagging() (outcome, error) {
	put, err := d.s3.PutObjectTagging(d.ctx, &s3.PutObjectTaggingInput{
		Bucket: aws.String(d.bucket), Key: aws.String("small.txt"),
		Tagging: &types.Tagging{TagSet: []types.Tag{
			{Key: aws.String("colour"), Value: aws.String("blue")},
			{Key: aws.String("size"), Value: aws.String("small")},
		}},
	})
	if err != nil {
		return nil, err
	}
	got, err := d.s3.GetObjectTagging(d.ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(d.bucket), Key: aws.String("small.txt")})
	if err != nil {
		return nil, err
	}
	tags := [][]string{}
	for _, t := range got.TagSet {
		tags = append(tags, []string{aws.ToString(t.Key), aws.ToString(t.Value)})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i][0]+"\x00"+tags[i][1] < tags[j][0]+"\x00"+tags[j][1] })
	return outcome{"put-status": status(put.ResultMetadata), "get-status": status(got.ResultMetadata), "tags": tags}, nil
}

func (d *driver) versionedList() (outcome, error) {
	_, err := d.s3.PutBucketVersioning(d.ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(d.bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		return nil, err
	}
	key := "versioned.txt"
	putIDs := []bool{}
	for _, n := range []int{1, 2} {
		put, err := d.s3.PutObject(d.ctx, &s3.PutObjectInput{
			Bucket: aws.String(d.bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(fmt.Sprintf("v%d", n))),
		})
		if err != nil {
			return nil, err
		}
		putIDs = append(putIDs, put.VersionId != nil)
	}
	deleted, err := d.s3.DeleteObject(d.ctx, &s3.DeleteObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	listed, err := d.s3.ListObjectVersions(d.ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(d.bucket), Prefix: aws.String(key)})
	if err != nil {
		return nil, err
	}
	versions := []outcome{}
	for _, v := range listed.Versions {
		versions = append(versions, outcome{"is-latest": v.IsLatest, "etag": aws.ToString(v.ETag), "size": v.Size})
	}
	markers := []outcome{}
	for _, m := range listed.DeleteMarkers {
		markers = append(markers, outcome{"is-latest": m.IsLatest})
	}
	return outcome{"put-version-ids": putIDs, "delete-marker": deleted.DeleteMarker,
		"delete-version-id": deleted.VersionId != nil, "versions": versions, "delete-markers": markers}, nil
}

func (d *driver) dotSegmentKeys() (outcome, error) {
	res := outcome{}
	for _, key := range dotSegmentKeys {
		key := key
		res[key] = outcome{
			"put": outcomeOf(func() (outcome, error) { return d.put(key, []byte(key)) }),
			"get": outcomeOf(func() (outcome, error) { return d.get(key, nil) }),
		}
	}
	listed, err := d.s3.ListObjectsV2(d.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(d.bucket)})
	if err != nil {
		return nil, err
	}
	found := []string{}
	for _, k := range objectKeys(listed.Contents) {
		for _, dot := range dotSegmentKeys {
			if k == dot {
				found = append(found, k)
			}
		}
	}
	res["listed"] = sorted(found)
	return res, nil
}

func (d *driver) deleteBucket() (outcome, error) {
	// Empty it first, versions and delete markers included (versioned-list left some).
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(d.bucket)}
	for {
		page, err := d.s3.ListObjectVersions(d.ctx, in)
		if err != nil {
			return nil, err
		}
		doomed := []types.ObjectIdentifier{}
		for _, v := range page.Versions {
			doomed = append(doomed, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			doomed = append(doomed, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(doomed) > 0 {
			_, err := d.s3.DeleteObjects(d.ctx, &s3.DeleteObjectsInput{
				Bucket: aws.String(d.bucket), Delete: &types.Delete{Objects: doomed, Quiet: true},
			})
			if err != nil {
				return nil, err
			}
		}
		if !page.IsTruncated {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	out, err := d.s3.DeleteBucket(d.ctx, &s3.DeleteBucketInput{Bucket: aws.String(d.bucket)})
	if err != nil {
		return nil, err
	}
	return outcome{"status": status(out.ResultMetadata)}, nil
}

type result struct {
	Op      string  `json:"op"`
	Outcome outcome `json:"outcome"`
}

type recorder struct{ results []result }

// op runs one operation; an error (or a panic) is recorded as its outcome, never fatal to the driver.
func (r *recorder) op(name string, fn func() (outcome, error)) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", clientName, name)
	var out outcome
	func() {
		defer func() {
			if p := recover(); p != nil {
				fmt.Fprintf(os.Stderr, "panic: %v\n%s", p, debug.Stack())
				out = outcome{"exception": "panic", "message": fmt.Sprint(p)}
			}
		}()
		res, err := fn()
		if err != nil {
			fmt.Fprintf(os.Stderr, "  error: %v\n", err)
			res = errorOutcome(err)
		}
		out = res
	}()
	r.results = append(r.results, result{Op: name, Outcome: out})
}

func (r *recorder) emit() {
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	results := r.results
	if results == nil {
		results = []result{}
	}
	if err := enc.Encode(map[string]any{"client": clientName, "results": results}); err != nil {
		fmt.Fprintf(os.Stderr, "cannot encode results: %v\n", err)
		os.Exit(1)
	}
}

func main() {
	endpoint := flag.String("endpoint", "", "http://127.0.0.1:PORT (RGW or the proxy)")
	accessKey := flag.String("access-key", "", "access key id")
	secretKey := flag.String("secret-key", "", "secret access key")
	region := flag.String("region", "us-east-1", "region")
	bucket := flag.String("bucket", "", "a bucket name that does not exist yet; the driver creates it")
	listBucket := flag.String("list-bucket", "", "an existing bucket holding the listing fixture")
	flag.String("workdir", "", "an empty scratch directory (unused)")
	flag.Parse()
	for name, v := range map[string]string{"endpoint": *endpoint, "access-key": *accessKey, "secret-key": *secretKey,
		"bucket": *bucket, "list-bucket": *listBucket} {
		if v == "" {
			fmt.Fprintf(os.Stderr, "missing --%s\n", name)
			os.Exit(2)
		}
	}
	ctx := context.Background()
	d, err := newDriver(ctx, *endpoint, *accessKey, *secretKey, *region, *bucket, *listBucket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot configure the SDK: %v\n", err)
		os.Exit(1)
	}
	r := &recorder{}
	r.op("create-bucket", d.createBucket)
	r.op("put-small", func() (outcome, error) { return d.put("small.txt", smallBody("small")) })
	r.op("put-empty", func() (outcome, error) { return d.put("empty.txt", []byte{}) })
	r.op("put-multipart", d.putMultipart)
	r.op("get", func() (outcome, error) { return d.get("small.txt", nil) })
	r.op("head", func() (outcome, error) { return d.head("small.txt") })
	r.op("head-missing", func() (outcome, error) { return d.head("missing.txt") })
	r.op("get-missing", func() (outcome, error) { return d.get("missing.txt", nil) })
	r.op("get-range", func() (outcome, error) {
		return d.get("small.txt", func(in *s3.GetObjectInput) { in.Range = aws.String("bytes=5-104") })
	})
	r.op("list-v1", d.listV1)
	r.op("list-v2", d.listV2)
	r.op("list-paginate", d.listPaginate)
	r.op("copy-special-keys", d.copySpecialKeys)
	r.op("get-special-keys", d.getSpecialKeys)
	r.op("delete", d.delete)
	r.op("multi-delete", d.multiDelete)
	r.op("multi-delete-over-1000", d.multiDeleteOver1000)
	r.op("get-if-none-match", d.getIfNoneMatch)
	r.op("get-if-modified-since", d.getIfModifiedSince)
	r.op("tagging", d.tagging)
	r.op("dot-segment-keys", d.dotSegmentKeys)
	r.op("versioned-list", d.versionedList)
	r.op("delete-bucket", d.deleteBucket)
	r.emit()
}
