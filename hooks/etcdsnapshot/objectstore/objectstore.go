// Package objectstore keeps tenants' verified etcd snapshot files in an S3-compatible bucket,
// off the meta cluster's volumes, under
//
//	<prefix>/<namespace>/<release>/<snapshot file name>
//
// Each object records the SHA-256 of its stored bytes, so a download refuses an object that
// changed since its upload before it is used. With an encryption key, snapshots are encrypted
// before they leave the host (DARE, AES-256-GCM): whoever runs the store cannot read them.
// The tenant's PKI roots are kept beside them, only encrypted (PutPKI).
//
// The client is minio-go: S3 alone is what taowa needs, and it speaks S3 to every store that
// does (AWS, GCS's interoperability API, Ceph, MinIO, VersityGW, SeaweedFS) with a handful of
// dependencies and typed S3 error codes. gocloud.dev/blob would add GCS's and Azure's native APIs
// at the price of their SDKs; sio, from the same authors, is the encryption.
package objectstore

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"k8s.io/apimachinery/pkg/util/validation"
)

// EncryptionKeySize is the size of Config.EncryptionKey: an AES-256 key.
const EncryptionKeySize = 32

// Config says where the store is and how to reach it.
type Config struct {
	// Endpoint is "host:port"; "http://host:port" or "https://host:port" is accepted too, and
	// its scheme sets Insecure.
	Endpoint string
	Bucket   string
	// Prefix is the key prefix of all snapshots in the bucket, may be empty; no leading slash.
	Prefix               string
	Region               string
	AccessKey, SecretKey string
	// Insecure selects plain HTTP.
	Insecure bool
	// CA is a PEM certificate of a CA trusted besides the system's, for a store with its own CA.
	CA []byte
	// EncryptionKey, when set, encrypts snapshots before they leave the host; it must be
	// EncryptionKeySize bytes. Nil stores them as they are.
	EncryptionKey []byte
}

// Store keeps snapshot files in a bucket.
type Store struct {
	client   *minio.Client
	endpoint string // scheme://host:port, for messages
	bucket   string
	prefix   string // "" or ending in "/"
	key      []byte
}

// Object is a snapshot in the store and what was recorded with it at upload.
type Object struct {
	Key  string `json:"key"`
	Name string `json:"name"` // the snapshot file's name
	// Size and SHA256 (hex) are of the stored bytes: encrypted ones when Encrypted.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// SnapshotSize is the snapshot file's size: Size less the encryption's overhead.
	SnapshotSize int64     `json:"snapshotSize"`
	Revision     int64     `json:"revision"`
	TotalKeys    int       `json:"totalKeys"`
	Version      string    `json:"version"` // etcd storage version, empty for etcd 3.5
	Encrypted    bool      `json:"encrypted"`
	Uploaded     time.Time `json:"uploaded"`
}

// User metadata recorded with each object, in the canonical form S3 clients read them back.
const (
	metaSHA256       = "Sha256"
	metaSnapshotSize = "Snapshot-Size"
	metaRevision     = "Revision"
	metaTotalKeys    = "Total-Keys"
	metaEtcdVersion  = "Etcd-Version"
	metaEncrypted    = "Encrypted"
)

// New checks cfg and returns a store; it does not contact it (see Check).
func New(cfg Config) (*Store, error) {
	var missing []string
	for name, v := range map[string]string{"endpoint": cfg.Endpoint, "bucket": cfg.Bucket, "access key": cfg.AccessKey, "secret key": cfg.SecretKey} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("object store configuration lacks: %s", strings.Join(missing, ", "))
	}
	if err := s3utils.CheckValidBucketName(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("bucket %q: %w", cfg.Bucket, err)
	}
	if cfg.EncryptionKey != nil && len(cfg.EncryptionKey) != EncryptionKeySize {
		return nil, fmt.Errorf("encryption key: %d bytes, must be %d", len(cfg.EncryptionKey), EncryptionKeySize)
	}
	prefix, err := keyPrefix(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	host, secure, err := parseEndpoint(cfg.Endpoint, cfg.Insecure)
	if err != nil {
		return nil, err
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if len(cfg.CA) > 0 {
		if !secure {
			return nil, fmt.Errorf("a CA given for %s, which is plain HTTP", cfg.Endpoint)
		}
		if transport.TLSClientConfig.RootCAs, err = trustedCAs(cfg.CA); err != nil {
			return nil, err
		}
	}
	client, err := minio.New(host, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    secure,
		Region:    cfg.Region,
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", cfg.Endpoint, err)
	}
	scheme := "https"
	if !secure {
		scheme = "http"
	}
	return &Store{client: client, endpoint: scheme + "://" + host, bucket: cfg.Bucket, prefix: prefix, key: slices.Clone(cfg.EncryptionKey)}, nil
}

// keyPrefix normalises the configured prefix to "" or "a/b/", refusing what would make keys
// with empty or relative path segments.
func keyPrefix(prefix string) (string, error) {
	trimmed := strings.TrimSuffix(prefix, "/")
	if trimmed == "" {
		return "", nil
	}
	for _, segment := range strings.Split(trimmed, "/") {
		if segment == "" || segment == "." || segment == ".." {
			return "", fmt.Errorf("key prefix %q: no leading slash, empty, '.' or '..' segments", prefix)
		}
	}
	return trimmed + "/", nil
}

// parseEndpoint returns the host:port to dial and whether over TLS.
func parseEndpoint(endpoint string, insecure bool) (host string, secure bool, err error) {
	scheme, host, hasScheme := strings.Cut(endpoint, "://")
	switch {
	case !hasScheme:
		host, secure = endpoint, !insecure
	case scheme == "http":
		secure = false
	case scheme == "https" && insecure:
		return "", false, fmt.Errorf("endpoint %s is HTTPS, but plain HTTP (insecure) is asked for", endpoint)
	case scheme == "https":
		secure = true
	default:
		return "", false, fmt.Errorf("endpoint %s: scheme must be http or https", endpoint)
	}
	host = strings.TrimSuffix(host, "/")
	if host == "" || strings.Contains(host, "/") {
		return "", false, fmt.Errorf("endpoint %s: want host:port, without a path", endpoint)
	}
	return host, secure, nil
}

// trustedCAs is the system's roots plus the CA in file.
func trustedCAs(pem []byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("object store CA: no PEM certificate in it")
	}
	return pool, nil
}

// Check makes sure the bucket exists and the credentials work, by listing it: List and Prune
// need that, and unlike a HEAD request a listing's error says what went wrong.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for info := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, MaxKeys: 1}) {
		if info.Err != nil {
			return s.requestError(info.Err)
		}
		break // one object listed is proof enough
	}
	return nil
}

// ConfigError is a store's answer that retrying cannot change: a bucket that does not exist,
// credentials it refuses. A hook fails at once on it instead of trying again.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// requestError says what a failed request means for whoever configured the store: a missing
// bucket, refused credentials and an endpoint that does not answer are named as such, whatever
// request met them.
func (s *Store) requestError(err error) error {
	switch s3Code(err) {
	case minio.NoSuchBucket:
		return &ConfigError{fmt.Errorf("bucket %s does not exist at %s: %w", s.bucket, s.endpoint, err)}
	case minio.AccessDenied, minio.InvalidAccessKeyID, minio.SignatureDoesNotMatch:
		return &ConfigError{fmt.Errorf("access denied to bucket %s at %s: check the access key and secret: %w", s.bucket, s.endpoint, err)}
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("object store %s unreachable: %w", s.endpoint, err)
	}
	return err
}

// s3Code is the S3 error code of err, "" when the store did not answer with one.
func s3Code(err error) string {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code
	}
	return ""
}

// url names an object, or with a prefix a folder, for messages.
func (s *Store) url(key string) string { return "s3://" + s.bucket + "/" + key }

// Where is the s3:// URL of the folder that holds the tenant's snapshots, for people to read.
func (s *Store) Where(tenant string) string { return s.url(s.prefix + tenant + "/") }

// tenantPrefix is where the tenant's snapshots are: <prefix><namespace>/<release>/. A tenant is
// "namespace/release"; both are DNS labels, so neither can reach another tenant's keys.
func (s *Store) tenantPrefix(tenant string) (string, error) {
	parts := strings.Split(tenant, "/")
	if len(parts) != 2 {
		return "", fmt.Errorf("tenant %q: want namespace/release", tenant)
	}
	for _, part := range parts {
		if errs := validation.IsDNS1123Label(part); len(errs) > 0 {
			return "", fmt.Errorf("tenant %q: %q: %s", tenant, part, strings.Join(errs, "; "))
		}
	}
	return s.prefix + tenant + "/", nil
}

// isSnapshotName tells a snapshot file's name (etcdsnapshot.List's rule) from anything else.
func isSnapshotName(name string) bool {
	return strings.HasSuffix(name, ".db") && !strings.HasPrefix(name, ".") && !strings.Contains(name, "/")
}

// List returns the tenant's snapshots of the series (all series when empty), oldest first:
// names sort by time within a series; across series, upload times order them.
func (s *Store) List(ctx context.Context, tenant, series string) ([]Object, error) {
	dir, err := s.tenantPrefix(tenant)
	if err != nil {
		return nil, err
	}
	listPrefix := dir
	if series != "" {
		if strings.ContainsAny(series, "/.") {
			return nil, fmt.Errorf("snapshot series %q must not contain '/' or '.'", series)
		}
		listPrefix += series + "-"
	}
	var objects []Object
	for info := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: listPrefix}) {
		if info.Err != nil {
			return nil, fmt.Errorf("list %s: %w", s.url(listPrefix), s.requestError(info.Err))
		}
		if !isSnapshotName(strings.TrimPrefix(info.Key, dir)) {
			continue
		}
		// S3 listings carry no user metadata (MinIO's extension aside): a HEAD per object.
		stat, err := s.client.StatObject(ctx, s.bucket, info.Key, minio.StatObjectOptions{})
		if s3Code(err) == minio.NoSuchKey {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", s.url(info.Key), s.requestError(err))
		}
		objects = append(objects, objectFromInfo(dir, stat))
	}
	slices.SortFunc(objects, func(a, b Object) int {
		if series != "" {
			return strings.Compare(a.Name, b.Name)
		}
		return cmp.Or(a.Uploaded.Compare(b.Uploaded), strings.Compare(a.Name, b.Name))
	})
	return objects, nil
}

// objectFromInfo reads what Upload recorded with an object. An object something else wrote has
// no SHA-256, and malformed numbers read as zero: listing shows it, Download refuses it.
func objectFromInfo(dir string, info minio.ObjectInfo) Object {
	meta := info.UserMetadata
	snapshotSize, _ := strconv.ParseInt(meta[metaSnapshotSize], 10, 64)
	revision, _ := strconv.ParseInt(meta[metaRevision], 10, 64)
	totalKeys, _ := strconv.Atoi(meta[metaTotalKeys])
	return Object{
		Key:          info.Key,
		Name:         strings.TrimPrefix(info.Key, dir),
		Size:         info.Size,
		SHA256:       meta[metaSHA256],
		SnapshotSize: snapshotSize,
		Revision:     revision,
		TotalKeys:    totalKeys,
		Version:      meta[metaEtcdVersion],
		Encrypted:    meta[metaEncrypted] == "true",
		Uploaded:     info.LastModified,
	}
}

// Prune removes the tenant's oldest snapshots of the series beyond retain, as etcdsnapshot
// prunes a directory: keep is never removed, nor counted; retain 0 keeps all.
func (s *Store) Prune(ctx context.Context, tenant, series string, retain int, keep string) ([]string, error) {
	if _, err := s.tenantPrefix(tenant); err != nil {
		return nil, err
	}
	if series == "" {
		return nil, errors.New("prune needs a series: retention is per series")
	}
	if retain < 0 {
		return nil, fmt.Errorf("retain %d: must be 0 (keep all) or more", retain)
	}
	if retain == 0 {
		return nil, nil
	}
	objects, err := s.List(ctx, tenant, series)
	if err != nil {
		return nil, err
	}
	objects = slices.DeleteFunc(objects, func(o Object) bool { return o.Name == keep })
	if len(objects) <= retain {
		return nil, nil
	}
	var removed []string
	for _, o := range objects[:len(objects)-retain] {
		if err := s.client.RemoveObject(ctx, s.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			return removed, fmt.Errorf("prune %s: %w", s.url(o.Key), s.requestError(err))
		}
		removed = append(removed, o.Name)
	}
	return removed, nil
}
