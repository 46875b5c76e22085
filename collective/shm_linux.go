package collective

import (
	"fmt"
	"os"
	"syscall"
)

// createSegment creates a file of size bytes named after pattern (as
// os.CreateTemp) in dir, reserves its memory and maps it read-write,
// shared. The memory is reserved with fallocate rather than sized with
// ftruncate: tmpfs hands out pages on first touch, and a full /dev/shm
// would then kill the process with SIGBUS in the middle of an all-reduce;
// reserving them here turns that into an error at set-up.
func createSegment(dir, pattern string, size int) (path string, mem []byte, err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	path = f.Name()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil {
		os.Remove(path)
		return "", nil, fmt.Errorf("reserving %d bytes for %s: %w", size, path, err)
	}
	mem, err = syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		os.Remove(path)
		return "", nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return path, mem, nil
}

// openSegment maps the segment at path, which must be size bytes long,
// read-only.
func openSegment(path string, size int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() != int64(size) {
		return nil, fmt.Errorf("%s is %d bytes, want %d", path, st.Size(), size)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return mem, nil
}

// removeSegment unlinks a segment file; mappings of it stay valid.
func removeSegment(path string) { os.Remove(path) }

// unmapSegment unmaps a segment mapped by createSegment or openSegment.
func unmapSegment(mem []byte) { syscall.Munmap(mem) }
