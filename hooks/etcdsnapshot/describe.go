package etcdsnapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File is a snapshot file in the snapshot directory, as taowa snapshots shows it.
type File struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	// Revision is etcd's revision in the snapshot, read when verified.
	Revision int64 `json:"revision,omitempty"`
	// Verified is "ok" or why the snapshot cannot be used; empty when not checked.
	Verified string `json:"verified,omitempty"`
}

// Describe returns the snapshots in dir, oldest first; with verify, each is checked as Verify
// does, and a damaged one is reported in its Verified rather than failing the listing.
func Describe(dir string, verify bool) ([]File, error) {
	names, err := List(dir, "")
	if err != nil {
		return nil, fmt.Errorf("list snapshots in %s: %w", dir, err)
	}
	files := make([]File, 0, len(names))
	for _, name := range names {
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if os.IsNotExist(err) {
			continue // pruned by a run since the listing
		}
		if err != nil {
			return nil, err
		}
		f := File{Name: name, Size: info.Size(), Modified: info.ModTime().UTC()}
		if verify {
			f.Verified = "ok"
			s, err := Verify(path)
			if err != nil {
				f.Verified = err.Error()
			}
			f.Revision = s.Revision
		}
		files = append(files, f)
	}
	// Across series, the order they were written in.
	slices.SortStableFunc(files, func(a, b File) int { return a.Modified.Compare(b.Modified) })
	return files, nil
}
