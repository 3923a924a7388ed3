package etcdsnapshot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTakeRejectsBadConfig(t *testing.T) {
	_, _, err := Take(context.Background(), Config{Endpoint: "https://etcd:2379", Prefix: "pre-upgrade"}, time.Now())
	assert.EqualError(t, err, "snapshot configuration lacks: CA, certificate, directory, key")
	_, _, err = Take(context.Background(), Config{Endpoint: "e", CAFile: "c", CertFile: "c", KeyFile: "k", Dir: "d", Prefix: "../x"}, time.Now())
	assert.ErrorContains(t, err, `snapshot prefix "../x" must not contain`)
}

func TestListAndPruneKeepEachSeriesApart(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"pre-upgrade-20261125T100000Z-rev10.db", "pre-upgrade-20261125T110000Z-rev20.db", "pre-upgrade-20261125T120000Z-rev30.db",
		"scheduled-20261125T090000Z-rev5.db", ".incoming-pre-upgrade-20261125T130000Z.db", "notes.txt",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o600))
	}
	removed, err := prune(dir, "pre-upgrade", 2, "pre-upgrade-20261125T100000Z-rev10.db")
	require.NoError(t, err)
	assert.Empty(t, removed, "the kept snapshot (a restore's) is neither removed nor counted")
	removed, err = prune(dir, "pre-upgrade", 2, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"pre-upgrade-20261125T100000Z-rev10.db"}, removed, "the oldest of the series goes")
	all, err := List(dir, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"pre-upgrade-20261125T110000Z-rev20.db", "pre-upgrade-20261125T120000Z-rev30.db", "scheduled-20261125T090000Z-rev5.db"}, all,
		"unverified files and other files are not snapshots; the other series is untouched")
	require.NoError(t, removeIncoming(dir))
	assert.NoFileExists(t, filepath.Join(dir, ".incoming-pre-upgrade-20261125T130000Z.db"))
}

func TestRestoreNeedsItsInputs(t *testing.T) {
	_, err := Restore(RestoreConfig{Snapshot: "s.db"}, time.Now())
	assert.ErrorContains(t, err, "restore needs")
	dir := t.TempDir()
	_, err = Restore(RestoreConfig{Snapshot: filepath.Join(dir, "missing.db"), DataDir: filepath.Join(dir, "data"), Name: "m",
		PeerURL: "https://m:2380", InitialCluster: "m=https://m:2380"}, time.Now())
	assert.ErrorContains(t, err, "missing.db")
}

// Two runs on one snapshot directory take turns: the second waits for the first's lock, and one
// that cannot get it in time says so.
func TestSnapshotRunsTakeTurns(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := lockDir(ctx, dir); err == nil || !strings.Contains(err.Error(), "another snapshot run holds") {
		t.Fatalf("a second run while the first holds the lock: got %v", err)
	}
	done := make(chan error)
	go func() {
		unlock2, err := lockDir(context.Background(), dir)
		if err == nil {
			unlock2()
		}
		done <- err
	}()
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("the second run after the first: %v", err)
	}
}

func TestDescribeListsSnapshotsOldestFirst(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i, name := range []string{"scheduled-20261125T120000Z-rev9.db", "pre-upgrade-20261125T100000Z-rev3.db", ".incoming-x.db", "notes.txt"} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("x", i+1)), 0o600))
		require.NoError(t, os.Chtimes(path, start.Add(time.Duration(-i)*time.Hour), start.Add(time.Duration(-i)*time.Hour)))
	}
	files, err := Describe(dir, false)
	require.NoError(t, err)
	assert.Equal(t, []File{
		{Name: "pre-upgrade-20261125T100000Z-rev3.db", Size: 2, Modified: start.Add(-time.Hour)},
		{Name: "scheduled-20261125T120000Z-rev9.db", Size: 1, Modified: start},
	}, files, "by modification time across series; unverified files and other files left out")

	files, err = Describe(dir, true)
	require.NoError(t, err)
	assert.Contains(t, files[0].Verified, "is not a database with an appended SHA-256", "a damaged file is reported in the listing")

	_, err = Describe(filepath.Join(dir, "missing"), false)
	assert.ErrorContains(t, err, "list snapshots in "+filepath.Join(dir, "missing"))
}
