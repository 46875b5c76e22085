//go:build !linux

package collective

import (
	"errors"
	"fmt"
)

// errNoShm says why segments cannot be created: this transport reserves
// tmpfs memory with fallocate, which only Linux has. Groups fall back to
// TCP.
var errNoShm = fmt.Errorf("shared-memory transport: %w on this system", errors.ErrUnsupported)

func createSegment(dir, pattern string, size int) (string, []byte, error) { return "", nil, errNoShm }
func openSegment(path string, size int) ([]byte, error)                   { return nil, errNoShm }
func removeSegment(path string)                                           {}
func unmapSegment(mem []byte)                                             {}
