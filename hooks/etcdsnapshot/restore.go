package etcdsnapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	utilsnapshot "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// revisionBump is added to the restored revision and marked compacted, as etcd recommends for
// Kubernetes: watchers then never see the revision go back, and relist instead of missing events.
const revisionBump = 1_000_000_000

// RestoreConfig describes one member to restore.
type RestoreConfig struct {
	Snapshot       string // snapshot file
	DataDir        string // the member's --data-dir
	Name           string
	PeerURL        string
	InitialCluster string
	ClusterToken   string
}

// markerFile, beside the data directory, names the snapshot the data was restored from.
func markerFile(dataDir string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(dataDir)), "taowa-restored-from")
}

// RestoredFrom says whether the member's data in dataDir was restored from the snapshot named
// name (a file name) already.
func RestoredFrom(dataDir, name string) (bool, error) {
	done, err := os.ReadFile(markerFile(dataDir))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return strings.TrimSpace(string(done)) == name, nil
}

// Restore replaces the member's data with the snapshot, once: the marker records which snapshot
// the data came from, so restarts and later runs with the same snapshot change nothing. The data
// it replaces is kept beside it as <data-dir>.before-restore-<time>; nothing is deleted.
func Restore(cfg RestoreConfig, now time.Time) (restored bool, err error) {
	if cfg.Snapshot == "" || cfg.DataDir == "" || cfg.Name == "" || cfg.PeerURL == "" || cfg.InitialCluster == "" {
		return false, errors.New("restore needs the snapshot, data directory, member name, peer URL and initial cluster")
	}
	want := filepath.Base(cfg.Snapshot)
	if done, err := RestoredFrom(cfg.DataDir, want); done || err != nil {
		return false, err
	}
	if _, err := Verify(cfg.Snapshot); err != nil {
		return false, err
	}

	// Restore beside the data directory, then swap: a crash leaves either the old data in place
	// or the old data moved aside, never a half-written data directory.
	restoring := cfg.DataDir + ".restoring"
	if err := os.RemoveAll(restoring); err != nil {
		return false, err
	}
	err = utilsnapshot.NewV3(zap.NewNop()).Restore(utilsnapshot.RestoreConfig{
		SnapshotPath:        cfg.Snapshot,
		Name:                cfg.Name,
		OutputDataDir:       restoring,
		PeerURLs:            []string{cfg.PeerURL},
		InitialCluster:      cfg.InitialCluster,
		InitialClusterToken: cfg.ClusterToken,
		RevisionBump:        revisionBump,
		MarkCompacted:       true,
	})
	if err != nil {
		os.RemoveAll(restoring)
		return false, fmt.Errorf("restore %s: %w", cfg.Snapshot, err)
	}
	if _, err := os.Stat(cfg.DataDir); err == nil {
		aside := cfg.DataDir + ".before-restore-" + now.UTC().Format("20060102T150405Z")
		if err := os.Rename(cfg.DataDir, aside); err != nil {
			return false, fmt.Errorf("move the current data aside: %w", err)
		}
	}
	if err := os.Rename(restoring, cfg.DataDir); err != nil {
		return false, err
	}
	if err := os.WriteFile(markerFile(cfg.DataDir), []byte(want+"\n"), 0o600); err != nil {
		return false, err
	}
	return true, nil
}
