package objectstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/taowa/taowa/hooks/etcdsnapshot/objectstore/objectstoretest"
)

// The PKI goes to the store only encrypted, once per content; a restore gets the roots in force
// when its snapshot was taken, and refuses a changed object or another key.
func TestPKIRoots(t *testing.T) {
	fake := newFakeS3(t)
	ctx := context.Background()
	s := fake.store(t, withKey(keyA))

	_, err := fake.store(t, noEdit).PutPKI(ctx, tenant, "d1", []byte("roots-1"))
	assert.ErrorIs(t, err, ErrNoKey, "private keys never leave unencrypted")

	stored, err := s.PutPKI(ctx, tenant, "d1", []byte("roots-1"))
	require.NoError(t, err)
	assert.True(t, stored)
	assert.NotContains(t, string(fake.Object(t, "tenants/blue/pki/d1")), "roots-1", "stored encrypted")
	first := fake.Clock.Now()
	fake.Clock.Advance(time.Hour)
	stored, err = s.PutPKI(ctx, tenant, "d1", []byte("roots-1"))
	require.NoError(t, err)
	assert.False(t, stored, "the same roots are stored once")
	stored, err = s.PutPKI(ctx, tenant, "d2", []byte("roots-2"))
	require.NoError(t, err)
	assert.True(t, stored)
	second := fake.Clock.Now()

	roots, at, err := s.PKIAt(ctx, tenant, first.Add(30*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "roots-1", string(roots), "the roots in force then, not the newest")
	assert.True(t, at.Equal(first), "stored at %s", at)
	roots, _, err = s.PKIAt(ctx, tenant, second)
	require.NoError(t, err)
	assert.Equal(t, "roots-2", string(roots))
	_, _, err = s.PKIAt(ctx, tenant, first.Add(-time.Minute))
	assert.ErrorIs(t, err, ErrNoPKI)
	assert.ErrorContains(t, err, "no PKI stored: none of tenants/blue at or before")
	_, _, err = s.PKIAt(ctx, "tenants/other", second)
	assert.ErrorContains(t, err, "no PKI stored: none of tenants/other")

	_, _, err = fake.store(t, withKey(keyB)).PKIAt(ctx, tenant, second)
	assert.ErrorContains(t, err, "object s3://snapshots/tenants/blue/pki/d2: cannot decrypt it with this key")
	var unusable *UnusableError
	assert.ErrorAs(t, err, &unusable, "another key does not become this one")

	// One byte changed, what was recorded kept.
	fake.Corrupt(t, "tenants/blue/pki/d2")
	_, _, err = s.PKIAt(ctx, tenant, fake.Clock.Now())
	assert.ErrorContains(t, err, "object s3://snapshots/tenants/blue/pki/d2: SHA-256 mismatch: the object is corrupt")
	assert.ErrorAs(t, err, &unusable)

	listed, err := s.List(ctx, tenant, "")
	require.NoError(t, err)
	assert.Empty(t, listed, "the PKI is not a snapshot")
}

// Stored roots go when no snapshot in the store was taken under them, and they are not the
// newest; each snapshot's keeps its restore whole.
func TestPrunePKIKeepsWhatSnapshotsNeed(t *testing.T) {
	fake := newFakeS3(t)
	ctx := context.Background()
	s := fake.store(t, withKey(keyA))
	put := func(digest string) {
		t.Helper()
		_, err := s.PutPKI(ctx, tenant, digest, []byte("roots-"+digest))
		require.NoError(t, err)
		fake.Clock.Advance(time.Hour)
	}
	put("d1")
	put("d2")
	object, err := s.Upload(ctx, tenant, objectstoretest.WriteSnapshot(t, t.TempDir(), "scheduled", start, 10))
	require.NoError(t, err)
	fake.Clock.Advance(time.Hour)
	put("d3")
	put("d4")

	removed, err := s.PrunePKI(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, []string{"tenants/blue/pki/d1", "tenants/blue/pki/d3"}, removed,
		"d2 was in force when the snapshot was taken; d4 is the newest")
	roots, _, err := s.PKIAt(ctx, tenant, object.Uploaded)
	require.NoError(t, err)
	assert.Equal(t, "roots-d2", string(roots), "the snapshot restores with its PKI still")
	roots, _, err = s.PKIAt(ctx, tenant, fake.Clock.Now())
	require.NoError(t, err)
	assert.Equal(t, "roots-d4", string(roots))

	removed, err = s.PrunePKI(ctx, tenant)
	require.NoError(t, err)
	assert.Empty(t, removed, "nothing more to remove")
}
