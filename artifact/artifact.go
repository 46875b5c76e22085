// Package artifact stores run artifacts: files under slash-separated
// paths, in a local directory (the default) or an S3-compatible object
// store. The tracking server's mlflow-artifacts proxy serves them.
package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ErrNotExist is returned (wrapped) for a path that holds no file.
var ErrNotExist = errors.New("artifact does not exist")

// ErrBadPath is returned (wrapped) for a path that is absolute, climbs out
// of the store with "..", or is otherwise not a clean relative path.
var ErrBadPath = errors.New("invalid artifact path")

// FileInfo describes one entry of a listing. Path is relative to the
// listed directory's store root, as the caller asked for it.
type FileInfo struct {
	Path  string
	IsDir bool
	Size  int64
}

// Store is an artifact store. Paths are slash-separated and relative to
// the store's root; implementations reject unclean paths with ErrBadPath.
// Methods are safe for concurrent use.
type Store interface {
	// Put writes the contents of r at p, replacing any file there. The
	// file becomes visible only once complete.
	Put(ctx context.Context, p string, r io.Reader) error
	// Get opens the file at p; the caller closes it.
	Get(ctx context.Context, p string) (io.ReadCloser, error)
	// List returns the immediate children of directory p ("" is the
	// root), sorted by path, with Path = p joined with the child's name.
	// A missing directory lists as empty.
	List(ctx context.Context, p string) ([]FileInfo, error)
	// Delete removes the file at p, or everything under p if it is a
	// directory.
	Delete(ctx context.Context, p string) error
}

// CleanPath validates an artifact path and returns it without leading or
// trailing slashes. "" and "." mean the root.
func CleanPath(p string) (string, error) {
	if strings.ContainsRune(p, 0) || strings.Contains(p, `\`) {
		return "", fmt.Errorf("%w %q", ErrBadPath, p)
	}
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w %q: must be relative", ErrBadPath, p)
	}
	p = strings.TrimSuffix(p, "/")
	if p == "" || p == "." {
		return "", nil
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." || part == "" {
			return "", fmt.Errorf("%w %q: must not contain '..', '.' or empty segments", ErrBadPath, p)
		}
	}
	return path.Clean(p), nil
}

// Open returns the store for uri: "s3://bucket[/prefix]" for S3 (see
// NewS3), "file:///dir" or a plain directory path for a local directory.
func Open(ctx context.Context, uri string) (Store, error) {
	switch {
	case strings.HasPrefix(uri, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
		if bucket == "" {
			return nil, fmt.Errorf("artifact store %q: missing bucket name", uri)
		}
		return NewS3FromEnv(ctx, bucket, prefix)
	case strings.HasPrefix(uri, "file://"):
		return NewLocal(strings.TrimPrefix(uri, "file://"))
	case strings.Contains(uri, "://"):
		return nil, fmt.Errorf("artifact store %q: unsupported scheme, want s3://, file:// or a directory", uri)
	}
	return NewLocal(uri)
}
