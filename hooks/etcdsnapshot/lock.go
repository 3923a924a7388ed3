package etcdsnapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockFile serialises the runs that write to one snapshot directory: a pre-upgrade snapshot and a
// scheduled one may overlap, and each removes what it takes for a killed run's leftovers.
const lockFile = ".lock"

// lockDir takes the directory's lock, waiting for another run to finish until ctx ends. The lock
// is the kernel's (flock): it goes with the holder's process, so a killed run leaves none.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("snapshot lock: %w", err)
	}
	start := time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("snapshot lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("another snapshot run holds %s; gave up after %s: %w", f.Name(), time.Since(start).Round(time.Second), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
