package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Local is a Store in a directory of the local file system.
type Local struct {
	root string
}

var _ Store = (*Local)(nil)

// NewLocal returns a store rooted at dir, creating dir if needed.
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("artifact directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create artifact directory: %w", err)
	}
	return &Local{root: abs}, nil
}

// Root returns the absolute directory of the store.
func (l *Local) Root() string { return l.root }

func (l *Local) file(p string) (string, string, error) {
	clean, err := CleanPath(p)
	if err != nil {
		return "", "", err
	}
	return clean, filepath.Join(l.root, filepath.FromSlash(clean)), nil
}

// Put implements Store. It writes a temporary file, fsyncs it and renames
// it into place.
func (l *Local) Put(_ context.Context, p string, r io.Reader) error {
	clean, name, err := l.file(p)
	if err != nil {
		return err
	}
	if clean == "" {
		return fmt.Errorf("%w: cannot write to the root", ErrBadPath)
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("put %s: %w", clean, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".upload-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", clean, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", clean, err)
	}
	return nil
}

// Get implements Store.
func (l *Local) Get(_ context.Context, p string) (io.ReadCloser, error) {
	clean, name, err := l.file(p)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, clean)
	}
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is a directory", ErrNotExist, clean)
	}
	return f, nil
}

// List implements Store.
func (l *Local) List(_ context.Context, p string) ([]FileInfo, error) {
	clean, name, err := l.file(p)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", clean, err)
	}
	var out []FileInfo
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".upload-") {
			continue // a Put in progress
		}
		fi := FileInfo{Path: path.Join(clean, e.Name()), IsDir: e.IsDir()}
		if !e.IsDir() {
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			fi.Size = info.Size()
		}
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Delete implements Store.
func (l *Local) Delete(_ context.Context, p string) error {
	clean, name, err := l.file(p)
	if err != nil {
		return err
	}
	if clean == "" {
		return fmt.Errorf("%w: refusing to delete the root", ErrBadPath)
	}
	if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotExist, clean)
	}
	return os.RemoveAll(name)
}
