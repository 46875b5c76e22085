package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// TestS3Artifacts runs a server configured with --artifacts s3://... the
// way the CLI does, against an in-process S3 server, and moves an artifact
// through the proxy.
func TestS3Artifacts(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("mlenv"); err != nil {
		t.Fatal(err)
	}
	fake := httptest.NewServer(gofakes3.New(backend).Server())
	defer fake.Close()
	t.Setenv("MLFLOW_S3_ENDPOINT_URL", fake.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")

	s, err := New(context.Background(), Config{DB: "sqlite:///" + filepath.Join(t.TempDir(), "s3.db"),
		Artifacts: "s3://mlenv/team-a", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	u := srv.URL + "/api/2.0/mlflow-artifacts/artifacts/0/run1/artifacts/model/weights.bin"
	req, _ := http.NewRequest("PUT", u, strings.NewReader("weights"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("upload: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	obj, err := backend.GetObject("mlenv", "team-a/0/run1/artifacts/model/weights.bin", nil)
	if err != nil {
		t.Fatalf("object not in the bucket under the prefix: %v", err)
	}
	obj.Contents.Close()
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "weights" {
		t.Fatalf("download = %q", body)
	}
}
