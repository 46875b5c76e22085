package cli

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// writeCheckpoint makes a checkpoint-like directory root/name holding one
// file whose content is name.
func writeCheckpoint(t *testing.T, root, name string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckpointUploadsNewestWins checks that checkpoints handed over
// while an upload runs are coalesced to the newest, that each upload
// sees its checkpoint's files even after the trainer removed them, and
// that wait returns once all is sent, leaving no snapshot behind.
func TestCheckpointUploadsNewestWins(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // where the snapshots go
	root := t.TempDir()
	started, release := make(chan bool), make(chan bool)
	var mu sync.Mutex
	var sent []string
	u := newCheckpointUploads(func(dir, name string) error {
		if name == "step-1" {
			started <- true
			<-release // the first upload is slow
		}
		b, err := os.ReadFile(filepath.Join(dir, "state.json"))
		if err != nil {
			return err
		}
		mu.Lock()
		sent = append(sent, name+"="+string(b))
		mu.Unlock()
		return nil
	})
	for _, name := range []string{"step-1", "step-2", "step-3"} {
		dir := writeCheckpoint(t, root, name)
		if err := u.add(dir, name); err != nil {
			t.Fatal(err)
		}
		os.RemoveAll(dir) // pruned by the trainer
		if name == "step-1" {
			<-started
		}
	}
	close(release)
	if err := u.wait(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"step-1=step-1", "step-3=step-3"}; !slices.Equal(sent, want) {
		t.Fatalf("uploaded %v, want %v (step-2 superseded while step-1 was sent)", sent, want)
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Fatalf("%d entries left in the checkpoint root, want none", len(left))
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "mlenv-upload-step-*")); len(left) != 0 {
		t.Fatalf("snapshots left behind: %v", left)
	}
}

// TestCheckpointUploadsError checks that a failed upload fails the next
// checkpoint handed over and the wait.
func TestCheckpointUploadsError(t *testing.T) {
	root := t.TempDir()
	boom := errors.New("server gone")
	u := newCheckpointUploads(func(string, string) error { return boom })
	if err := u.add(writeCheckpoint(t, root, "step-1"), "step-1"); err != nil {
		t.Fatal(err)
	}
	if err := u.wait(); !errors.Is(err, boom) {
		t.Fatalf("wait = %v, want %v", err, boom)
	}
	if err := u.add(writeCheckpoint(t, root, "step-2"), "step-2"); !errors.Is(err, boom) {
		t.Fatalf("add after a failed upload = %v, want %v", err, boom)
	}
}
