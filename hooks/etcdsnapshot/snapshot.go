// Package etcdsnapshot takes, verifies, prunes and restores snapshots of a tenant's etcd, stored
// as files in a directory (the chart's snapshot volume):
//
//	<prefix>-<UTC time>-rev<revision>.db
//
// A snapshot is written under a hidden name and renamed only once verified, so a run killed
// halfway leaves no file that looks like a snapshot; the next run removes what it left.
package etcdsnapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	clientsnapshot "go.etcd.io/etcd/client/v3/snapshot"
	utilsnapshot "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// incomingPrefix marks a snapshot that is not verified yet.
const incomingPrefix = ".incoming-"

// Config says where etcd is, how to authenticate, and where snapshots go.
type Config struct {
	Endpoint                  string // one member's client URL: a snapshot is one member's state
	CAFile, CertFile, KeyFile string
	Dir                       string
	// Prefix names a series of snapshots (pre-upgrade, scheduled); retention is per series.
	Prefix string
	// Retain is how many snapshots of the series to keep, newest first; 0 keeps all.
	Retain int
	// Keep names a snapshot file that pruning never removes: the one a restore uses.
	Keep string
}

// Snapshot is a verified snapshot file.
type Snapshot struct {
	Path      string `json:"path"`
	Revision  int64  `json:"revision"`
	TotalKeys int    `json:"totalKeys"`
	Size      int64  `json:"size"`
	// Version is the etcd storage version, empty for etcd 3.5.
	Version string `json:"version"`
}

// Take saves a snapshot of the member at cfg.Endpoint, verifies it, and prunes the series.
func Take(ctx context.Context, cfg Config, now time.Time) (Snapshot, []string, error) {
	if err := validate(cfg); err != nil {
		return Snapshot{}, nil, err
	}
	unlock, err := lockDir(ctx, cfg.Dir)
	if err != nil {
		return Snapshot{}, nil, err
	}
	defer unlock()
	// What a killed run left: no other run is writing now.
	if err := removeIncoming(cfg.Dir); err != nil {
		return Snapshot{}, nil, err
	}
	tlsConfig, err := transport.TLSInfo{TrustedCAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}.ClientConfig()
	if err != nil {
		return Snapshot{}, nil, fmt.Errorf("etcd client TLS: %w", err)
	}
	clientCfg := clientv3.Config{Endpoints: []string{cfg.Endpoint}, TLS: tlsConfig, DialTimeout: 10 * time.Second}
	before, err := revision(ctx, clientCfg)
	if err != nil {
		return Snapshot{}, nil, err
	}

	incoming := filepath.Join(cfg.Dir, incomingPrefix+cfg.Prefix+"-"+now.UTC().Format("20060102T150405Z")+".db")
	if _, err := clientsnapshot.SaveWithVersion(ctx, zap.NewNop(), clientCfg, incoming); err != nil {
		os.Remove(incoming)
		return Snapshot{}, nil, fmt.Errorf("snapshot of %s: %w", cfg.Endpoint, err)
	}
	snap, err := Verify(incoming)
	if err != nil {
		os.Remove(incoming)
		return Snapshot{}, nil, err
	}
	if snap.Revision < before {
		os.Remove(incoming)
		return Snapshot{}, nil, fmt.Errorf("snapshot %s has revision %d, older than the revision %d etcd reported before it was taken", incoming, snap.Revision, before)
	}
	final := filepath.Join(cfg.Dir, fmt.Sprintf("%s-%s-rev%d.db", cfg.Prefix, now.UTC().Format("20060102T150405Z"), snap.Revision))
	if err := os.Rename(incoming, final); err != nil {
		os.Remove(incoming)
		return Snapshot{}, nil, err
	}
	snap.Path = final
	pruned, err := prune(cfg.Dir, cfg.Prefix, cfg.Retain, cfg.Keep)
	return snap, pruned, err
}

func validate(cfg Config) error {
	var missing []string
	for name, v := range map[string]string{"endpoint": cfg.Endpoint, "CA": cfg.CAFile, "certificate": cfg.CertFile, "key": cfg.KeyFile, "directory": cfg.Dir, "prefix": cfg.Prefix} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("snapshot configuration lacks: %s", strings.Join(missing, ", "))
	}
	if strings.ContainsAny(cfg.Prefix, "/.") {
		return fmt.Errorf("snapshot prefix %q must not contain '/' or '.'", cfg.Prefix)
	}
	if cfg.Retain < 0 {
		return fmt.Errorf("retain %d: must be 0 (keep all) or more", cfg.Retain)
	}
	return nil
}

// revision asks the member for its current revision, the floor of the snapshot's.
func revision(ctx context.Context, cfg clientv3.Config) (int64, error) {
	client, err := clientv3.New(cfg)
	if err != nil {
		return 0, fmt.Errorf("etcd client for %s: %w", cfg.Endpoints[0], err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	status, err := client.Status(ctx, cfg.Endpoints[0])
	if err != nil {
		return 0, fmt.Errorf("etcd status of %s: %w", cfg.Endpoints[0], err)
	}
	return status.Header.Revision, nil
}

// Verify checks a snapshot file: the SHA-256 etcd appends to the stream matches the content, and
// the database inside passes bbolt's consistency check; it returns what the snapshot holds.
func Verify(path string) (Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return Snapshot{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Snapshot{}, err
	}
	size := info.Size()
	// etcd pads the database to whole 512-byte sectors and appends its SHA-256.
	if size < sha256.Size || size%512 != sha256.Size {
		return Snapshot{}, fmt.Errorf("snapshot %s: %d bytes is not a database with an appended SHA-256 (truncated?)", path, size)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, size-sha256.Size); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", path, err)
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", path, err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return Snapshot{}, fmt.Errorf("snapshot %s: SHA-256 mismatch: the file is corrupt", path)
	}
	status, err := utilsnapshot.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return Snapshot{Path: path, Revision: status.Revision, TotalKeys: status.TotalKey, Size: size, Version: status.Version}, nil
}

// List returns the snapshot files of the series prefix (all series when empty), oldest first.
func List(dir, prefix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(name, ".db") && !strings.HasPrefix(name, ".") &&
			(prefix == "" || strings.HasPrefix(name, prefix+"-")) {
			names = append(names, name)
		}
	}
	// Names within a series sort by time.
	sort.Strings(names)
	return names, nil
}

// prune removes the oldest snapshots of the series beyond retain; keep is never removed, nor
// counted.
func prune(dir, prefix string, retain int, keep string) ([]string, error) {
	if retain == 0 {
		return nil, nil
	}
	names, err := List(dir, prefix)
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == keep })
	if len(names) <= retain {
		return nil, nil
	}
	var removed []string
	for _, name := range names[:len(names)-retain] {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return removed, fmt.Errorf("prune %s: %w", name, err)
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// removeIncoming deletes what a killed run left: unverified snapshots and their partial files.
func removeIncoming(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("snapshot directory: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), incomingPrefix) {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
