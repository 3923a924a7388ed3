package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultPath is where the node agent writes the inventory.
const DefaultPath = "/var/lib/taowa/eni/inventory.json"

// Store reads and writes the inventory and allocation files of one node.
type Store struct {
	InventoryPath   string
	AllocationsPath string
	LockPath        string
}

// NewStore returns the store whose inventory is at inventoryPath, with the
// allocations file and the lock file next to it.
func NewStore(inventoryPath string) *Store {
	return &Store{
		InventoryPath:   inventoryPath,
		AllocationsPath: filepath.Join(filepath.Dir(inventoryPath), "allocations.json"),
		LockPath:        inventoryPath + ".lock",
	}
}

// Lock takes the node-wide exclusive lock, waiting until ctx is done. The
// kernel drops the lock when the holder dies, so a killed plugin never
// wedges the node.
func (s *Store) Lock(ctx context.Context) (unlock func() error, err error) {
	if err := os.MkdirAll(filepath.Dir(s.LockPath), 0o755); err != nil {
		return nil, fmt.Errorf("create lock directory: %w", err)
	}
	f, err := os.OpenFile(s.LockPath, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	// Poll rather than block so that the wait honours ctx without leaving a
	// goroutine stuck in flock(2) that could take the lock after we gave up.
	backoff := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f.Close, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", s.LockPath, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", s.LockPath, context.Cause(ctx))
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 16*time.Millisecond)
	}
}

// LoadInventory reads and validates the inventory.
func (s *Store) LoadInventory() (*Inventory, error) {
	var inv Inventory
	if err := readJSON(s.InventoryPath, &inv); err != nil {
		return nil, err
	}
	if err := inv.Validate(); err != nil {
		return nil, fmt.Errorf("invalid inventory %s: %w", s.InventoryPath, err)
	}
	return &inv, nil
}

// SaveInventory validates inv and replaces the inventory file with it. The
// file is synced before the rename: it is written rarely and losing it would
// hide every ENI of the node.
func (s *Store) SaveInventory(inv *Inventory) error {
	if err := inv.Validate(); err != nil {
		return fmt.Errorf("refusing to save invalid inventory: %w", err)
	}
	return writeJSONAtomic(s.InventoryPath, inv, true)
}

// LoadAllocations reads the allocations; a missing file means no ENI is
// allocated.
func (s *Store) LoadAllocations() (*Allocations, error) {
	allocs := Allocations{Version: FormatVersion, ByENI: map[string]Allocation{}}
	err := readJSON(s.AllocationsPath, &allocs)
	if errors.Is(err, fs.ErrNotExist) {
		return &allocs, nil
	}
	if err != nil {
		return nil, err
	}
	if allocs.Version != FormatVersion {
		return nil, fmt.Errorf("unsupported allocations version %d in %s, want %d", allocs.Version, s.AllocationsPath, FormatVersion)
	}
	if allocs.ByENI == nil {
		allocs.ByENI = map[string]Allocation{}
	}
	return &allocs, nil
}

// SaveAllocations replaces the allocations file. It is not synced: it sits
// on every ADD and DEL, and only has to survive the death of a plugin
// process, which the page cache guarantees; after a node crash every
// sandbox is gone and the runtime's DEL and GC reconcile the file.
func (s *Store) SaveAllocations(allocs *Allocations) error {
	allocs.Version = FormatVersion
	return writeJSONAtomic(s.AllocationsPath, allocs, false)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// writeJSONAtomic writes v to a temporary file in the target directory and
// renames it over path, so readers see either the old or the new content.
func writeJSONAtomic(path string, v any, sync bool) (err error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", path, err)
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}
