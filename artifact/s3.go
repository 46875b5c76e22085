package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 is a Store in a bucket of an S3-compatible object store, under an
// optional key prefix. Directories are key prefixes ending in "/".
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ends with "/"
}

var _ Store = (*S3)(nil)

// NewS3 returns a store over client in bucket under prefix.
func NewS3(client *s3.Client, bucket, prefix string) *S3 {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}
}

// NewS3FromEnv returns a store whose client is configured from the usual
// environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// AWS_REGION (or AWS_DEFAULT_REGION, default us-east-1), and the endpoint
// of an S3-compatible server in MLFLOW_S3_ENDPOINT_URL or
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, addressed path-style.
func NewS3FromEnv(_ context.Context, bucket, prefix string) (*S3, error) {
	region := firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	if region == "" {
		region = "us-east-1"
	}
	cfg := aws.Config{Region: region}
	if id := os.Getenv("AWS_ACCESS_KEY_ID"); id != "" {
		cfg.Credentials = credentials.NewStaticCredentialsProvider(id, os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))
	}
	endpoint := firstEnv("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
	return NewS3(client, bucket, prefix), nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func (s *S3) key(p string) (string, string, error) {
	clean, err := CleanPath(p)
	if err != nil {
		return "", "", err
	}
	return clean, s.prefix + clean, nil
}

// Put implements Store. The body is spooled to a temporary file first, as
// the SDK needs a seekable body to sign and checksum it.
func (s *S3) Put(ctx context.Context, p string, r io.Reader) error {
	clean, key, err := s.key(p)
	if err != nil {
		return err
	}
	if clean == "" {
		return fmt.Errorf("%w: cannot write to the root", ErrBadPath)
	}
	tmp, err := os.CreateTemp("", "mlenv-s3-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", clean, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, r)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", clean, err)
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: tmp, ContentLength: aws.Int64(size)})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, p string) (io.ReadCloser, error) {
	clean, key, err := s.key(p)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	var nk *types.NoSuchKey
	if errors.As(err, &nk) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, clean)
	}
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", s.bucket, key, err)
	}
	return out.Body, nil
}

// List implements Store.
func (s *S3) List(ctx context.Context, p string) ([]FileInfo, error) {
	clean, key, err := s.key(p)
	if err != nil {
		return nil, err
	}
	if clean != "" {
		key += "/"
	}
	var out []FileInfo
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &key, Delimiter: aws.String("/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.bucket, key, err)
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), key), "/")
			out = append(out, FileInfo{Path: path.Join(clean, name), IsDir: true})
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), key)
			if name == "" {
				continue
			}
			out = append(out, FileInfo{Path: path.Join(clean, name), Size: aws.ToInt64(o.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, p string) error {
	clean, key, err := s.key(p)
	if err != nil {
		return err
	}
	if clean == "" {
		return fmt.Errorf("%w: refusing to delete the root", ErrBadPath)
	}
	if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key}); err == nil {
		_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
		return err
	}
	dir := key + "/"
	found := false
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &dir})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("delete s3://%s/%s: %w", s.bucket, dir, err)
		}
		for _, o := range page.Contents {
			found = true
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: o.Key}); err != nil {
				return fmt.Errorf("delete s3://%s/%s: %w", s.bucket, aws.ToString(o.Key), err)
			}
		}
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrNotExist, clean)
	}
	return nil
}
