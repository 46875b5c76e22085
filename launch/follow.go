package launch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// pollInterval is how often a followed log is checked for new output.
const pollInterval = 200 * time.Millisecond

// openJobLog returns the log of job id in store; see openLog. status tells
// when a followed job has ended.
func openJobLog(ctx context.Context, store *Store, id JobID, follow bool, status func(context.Context, JobID) (Status, error)) (io.ReadCloser, error) {
	if _, err := store.Get(id); err != nil {
		return nil, err
	}
	return openLog(ctx, store.LogPath(id), follow, func() bool {
		st, err := status(ctx, id)
		return err != nil || st.State.Final()
	})
}

// openLog returns the log at path. Without follow it is the file as it is
// now (empty when the job has written nothing yet). With follow the reader
// delivers new output as it is written until finished reports true (one last
// read then catches what was written before the end) or ctx ends.
func openLog(ctx context.Context, path string, follow bool, finished func() bool) (io.ReadCloser, error) {
	if !follow {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return f, err
	}
	pr, pw := io.Pipe()
	go func() {
		var f *os.File
		defer func() {
			if f != nil {
				f.Close()
			}
		}()
		for {
			done := finished()
			if f == nil {
				f, _ = os.Open(path)
			}
			if f != nil {
				if _, err := io.Copy(pw, f); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			if done {
				pw.Close()
				return
			}
			select {
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			case <-time.After(pollInterval):
			}
		}
	}()
	return pr, nil
}

// lineWriter prefixes every line written to it and writes whole lines to
// out under mu, so concurrent workers' lines do not interleave.
type lineWriter struct {
	prefix []byte
	mu     *sync.Mutex
	out    io.Writer
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := w.emit(w.buf[:i+1]); err != nil {
			return len(p), err
		}
		w.buf = w.buf[i+1:]
	}
}

// Flush writes a final unterminated line, if any.
func (w *lineWriter) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	line := append(w.buf, '\n')
	w.buf = nil
	return w.emit(line)
}

func (w *lineWriter) emit(line []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.out.Write(w.prefix); err != nil {
		return err
	}
	_, err := w.out.Write(line)
	return err
}
