package artifact

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// stores returns a local store and an S3 store backed by an in-process
// fake S3 server.
func stores(t *testing.T) map[string]Store {
	local, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backend := s3mem.New()
	if err := backend.CreateBucket("bucket"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("key", "secret", ""),
	})
	return map[string]Store{"local": local, "s3": NewS3(client, "bucket", "prefix/x")}
}

func TestStores(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for p, body := range map[string]string{"0/run/artifacts/model/MLmodel": "flavors: {}", "0/run/artifacts/model/weights.bin": "12345", "0/run/artifacts/notes.txt": "hi"} {
				if err := s.Put(ctx, p, strings.NewReader(body)); err != nil {
					t.Fatal(err)
				}
			}
			files, err := s.List(ctx, "0/run/artifacts")
			if err != nil {
				t.Fatal(err)
			}
			want := []FileInfo{{Path: "0/run/artifacts/model", IsDir: true}, {Path: "0/run/artifacts/notes.txt", Size: 2}}
			if len(files) != 2 || files[0] != want[0] || files[1] != want[1] {
				t.Fatalf("list = %+v, want %+v", files, want)
			}
			rc, err := s.Get(ctx, "0/run/artifacts/model/weights.bin")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "12345" {
				t.Fatalf("get = %q", b)
			}
			if _, err := s.Get(ctx, "0/run/artifacts/missing"); !errors.Is(err, ErrNotExist) {
				t.Fatalf("get missing: %v, want ErrNotExist", err)
			}
			if err := s.Delete(ctx, "0/run/artifacts/model"); err != nil {
				t.Fatal(err)
			}
			files, _ = s.List(ctx, "0/run/artifacts")
			if len(files) != 1 || files[0].Path != "0/run/artifacts/notes.txt" {
				t.Fatalf("after delete: %+v", files)
			}
			if err := s.Delete(ctx, "0/run/artifacts/model"); !errors.Is(err, ErrNotExist) {
				t.Fatalf("second delete: %v, want ErrNotExist", err)
			}
			for _, bad := range []string{"../x", "a/../../x", "/etc/passwd", "a//b", `a\..\b`} {
				if err := s.Put(ctx, bad, strings.NewReader("x")); !errors.Is(err, ErrBadPath) {
					t.Errorf("put %q: %v, want ErrBadPath", bad, err)
				}
				if _, err := s.Get(ctx, bad); !errors.Is(err, ErrBadPath) {
					t.Errorf("get %q: %v, want ErrBadPath", bad, err)
				}
			}
		})
	}
}

func TestOpen(t *testing.T) {
	if _, err := Open(context.Background(), "gs://bucket"); err == nil {
		t.Fatal("gs:// must be rejected")
	}
	s, err := Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*Local); !ok {
		t.Fatalf("file:// gave %T", s)
	}
}
