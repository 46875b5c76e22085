package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// checkpointUploads sends a run's checkpoints to the tracking server on a
// goroutine of its own, so that training goes on while one is uploaded
// instead of waiting for the network. Only the newest checkpoint
// matters: one handed over while another is being uploaded waits, and
// replaces any older one still waiting. The uploader works from a
// snapshot of the checkpoint in a temporary directory (hard links to its
// files, or copies where links fail, as across file systems), so the
// trainer may prune the checkpoint meanwhile.
type checkpointUploads struct {
	upload func(dir, name string) error // uploads a snapshot as the checkpoint name

	mu      sync.Mutex
	idle    sync.Cond // signalled when the goroutine stops
	waiting *snapshot // the next snapshot to upload
	running bool      // whether the goroutine runs
	err     error     // the first failed upload's
}

// snapshot is a private copy of checkpoint name at dir.
type snapshot struct{ dir, name string }

func newCheckpointUploads(upload func(dir, name string) error) *checkpointUploads {
	u := &checkpointUploads{upload: upload}
	u.idle.L = &u.mu
	return u
}

// add snapshots the checkpoint directory dir and queues it for upload as
// name. It returns the error of an earlier upload that failed, which
// fails the run as a failed synchronous upload would have.
func (u *checkpointUploads) add(dir, name string) error {
	// Outside the checkpoint directory, which may also be the output
	// directory that the trainer logs as the model artifact meanwhile.
	snap, err := os.MkdirTemp("", "mlenv-upload-"+name+"-")
	if err != nil {
		return fmt.Errorf("snapshot checkpoint: %w", err)
	}
	if err := linkFiles(dir, snap); err != nil {
		os.RemoveAll(snap)
		return fmt.Errorf("snapshot checkpoint: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		os.RemoveAll(snap)
		return u.err
	}
	if u.waiting != nil {
		os.RemoveAll(u.waiting.dir) // superseded before it was sent
	}
	u.waiting = &snapshot{snap, name}
	if !u.running {
		u.running = true
		go u.loop()
	}
	return nil
}

func (u *checkpointUploads) loop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for u.waiting != nil {
		s := u.waiting
		u.waiting = nil
		u.mu.Unlock()
		err := u.upload(s.dir, s.name)
		os.RemoveAll(s.dir)
		u.mu.Lock()
		if err != nil && u.err == nil {
			u.err = err
		}
	}
	u.running = false
	u.idle.Broadcast()
}

// wait blocks until the queued uploads are done and returns the first
// error among them.
func (u *checkpointUploads) wait() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for u.running {
		u.idle.Wait()
	}
	return u.err
}

// linkFiles makes the files of the directory src (no subdirectories, as
// in a checkpoint) appear in dst: hard links, or copies where a link
// cannot be made.
func linkFiles(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", from)
		}
		if os.Link(from, to) == nil {
			continue
		}
		if err := copyRegular(from, to); err != nil {
			return err
		}
	}
	return nil
}

func copyRegular(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}
