package join

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cluster-bootstrap/token/jws"
)

// clusterInfoServer serves cluster-info as a tenant apiserver does to anonymous clients, with a
// certificate nobody trusts, and records whether a request carried credentials.
type clusterInfoServer struct {
	*httptest.Server
	mu          sync.Mutex
	data        map[string]string
	status      int
	credentials []string
}

func newClusterInfoServer(t *testing.T) *clusterInfoServer {
	s := &clusterInfoServer{status: http.StatusOK}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if a := r.Header.Get("Authorization"); a != "" {
			s.credentials = append(s.credentials, a)
		}
		if r.Method != http.MethodGet || r.URL.Path != "/api/v1/namespaces/kube-public/configmaps/cluster-info" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status: metav1.StatusFailure, Code: int32(s.status), Reason: metav1.StatusReasonForbidden,
				Message: `configmaps "cluster-info" is forbidden: User "system:anonymous" cannot get resource "configmaps"`})
			return
		}
		cm := clusterInfo(s.data)
		cm.TypeMeta = metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"}
		_ = json.NewEncoder(w).Encode(cm)
	}))
	t.Cleanup(s.Close)
	return s
}

// address is the server as host:port.
func (s *clusterInfoServer) address() string { return strings.TrimPrefix(s.URL, "https://") }

func signed(t *testing.T, kubeconfig string, signers ...Token) map[string]string {
	t.Helper()
	data := map[string]string{"kubeconfig": kubeconfig}
	for _, tok := range signers {
		sig, err := jws.ComputeDetachedSignature(kubeconfig, tok.ID, tok.Secret)
		require.NoError(t, err)
		data["jws-kubeconfig-"+tok.ID] = sig
	}
	return data
}

func TestDiscover(t *testing.T) {
	ca, newer, other := newCA(t, "tenant-ca"), newCA(t, "tenant-ca-2"), newCA(t, "someone-else")
	token := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	anotherToken := Token{ID: "zyxwvu", Secret: "fedcba9876543210"}
	srv := newClusterInfoServer(t)
	info := clusterInfoKubeconfig(t, "https://10.240.1.10:6443", ca.CertPEM())
	// While the CA rotates, cluster-info carries both CAs.
	bundle := append(append([]byte{}, ca.CertPEM()...), newer.CertPEM()...)
	rotating := clusterInfoKubeconfig(t, "https://10.240.1.10:6443", bundle)

	for _, tc := range []struct {
		name   string
		data   map[string]string
		status int
		token  Token
		pins   []string
		wantCA []byte
		want   error  // errors.Is
		msg    string // in the error
	}{
		{name: "signed and pinned", data: signed(t, info, anotherToken, token), token: token,
			pins: []string{CACertHash(other.Cert), CACertHash(ca.Cert)}, wantCA: ca.CertPEM()},
		{name: "pin in upper case", data: signed(t, info, token), token: token,
			pins: []string{"SHA256:" + strings.ToUpper(strings.TrimPrefix(CACertHash(ca.Cert), "sha256:"))}, wantCA: ca.CertPEM()},
		{name: "rotating CA, the new one pinned", data: signed(t, rotating, token), token: token,
			pins: []string{CACertHash(newer.Cert)}, wantCA: bundle},
		{name: "wrong pin", data: signed(t, info, token), token: token,
			pins: []string{CACertHash(other.Cert)}, want: ErrCAHashMismatch, msg: CACertHash(ca.Cert)},
		{name: "no signature for the token", data: signed(t, info, anotherToken), token: token,
			pins: []string{CACertHash(ca.Cert)}, want: ErrTokenNotSigned, msg: "jws-kubeconfig-abcdef"},
		{name: "wrong token secret", data: signed(t, info, token), token: Token{ID: token.ID, Secret: "0000000000000000"},
			pins: []string{CACertHash(ca.Cert)}, want: ErrBadSignature},
		{name: "kubeconfig altered after signing", data: func() map[string]string {
			d := signed(t, info, token)
			d["kubeconfig"] = clusterInfoKubeconfig(t, "https://10.240.1.10:6443", other.CertPEM())
			return d
		}(), token: token, pins: []string{CACertHash(other.Cert)}, want: ErrBadSignature},
		{name: "anonymous access forbidden", status: http.StatusForbidden, token: token,
			pins: []string{CACertHash(ca.Cert)}, msg: "forbidden"},
		{name: "no pin", data: signed(t, info, token), token: token, msg: "no CA cert hash"},
		{name: "malformed pin", data: signed(t, info, token), token: token, pins: []string{"sha256:abc"}, msg: "sha256:<64 hex digits>"},
		{name: "malformed token", data: signed(t, info, token), token: Token{ID: "abcdef", Secret: "x"},
			pins: []string{CACertHash(ca.Cert)}, msg: "[a-z0-9]{6}.[a-z0-9]{16}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.mu.Lock()
			srv.data, srv.status = tc.data, http.StatusOK
			if tc.status != 0 {
				srv.status = tc.status
			}
			srv.mu.Unlock()

			got, err := Discover(context.Background(), srv.address(), tc.token, tc.pins)
			if tc.wantCA != nil {
				require.NoError(t, err)
				assert.True(t, bytes.Equal(tc.wantCA, got), "CA:\n%s", got)
				return
			}
			require.Error(t, err)
			assert.Nil(t, got)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
			assert.Contains(t, err.Error(), tc.msg)
			assert.Contains(t, err.Error(), srv.address(), "the error does not name the server")
			assert.Contains(t, err.Error(), tc.token.ID, "the error does not name the token id")
			assert.NotContains(t, err.Error(), tc.token.Secret, "the error shows the token secret")
		})
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	assert.Empty(t, srv.credentials, "discovery sent credentials")
}

func TestDiscoverUnreachable(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	address := strings.TrimPrefix(srv.URL, "https://")
	srv.Close()
	ca := newCA(t, "tenant-ca")
	_, err := Discover(context.Background(), address, Token{ID: "abcdef", Secret: "0123456789abcdef"}, []string{CACertHash(ca.Cert)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), address)

	_, err = Discover(context.Background(), "https://"+address, Token{ID: "abcdef", Secret: "0123456789abcdef"}, []string{CACertHash(ca.Cert)})
	assert.ErrorContains(t, err, "want host:port")
}

// A node dials from its own network: Discover connects through the dial function it is given.
func TestDiscoverDialsThroughTheGivenDialer(t *testing.T) {
	ca := newCA(t, "tenant-ca")
	token := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	srv := newClusterInfoServer(t)
	srv.data = signed(t, clusterInfoKubeconfig(t, "https://10.240.1.10:6443", ca.CertPEM()), token)
	var dialed []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	// Nothing listens there (and loopback is never proxied): only the dial function reaches the server.
	got, err := Discover(context.Background(), "127.0.0.2:1", token, []string{CACertHash(ca.Cert)}, dial)
	require.NoError(t, err)
	assert.Equal(t, ca.CertPEM(), got)
	assert.Equal(t, []string{"127.0.0.2:1"}, dialed)

	_, err = Discover(context.Background(), "127.0.0.2:1", token, []string{CACertHash(ca.Cert)}, dial, dial)
	assert.ErrorContains(t, err, "at most one")
}

// The parameters Prepare returns are what Discover accepts: the two sides agree on the format.
func TestPrepareThenDiscover(t *testing.T) {
	ca := newCA(t, "tenant-ca")
	srv := newClusterInfoServer(t)
	client := fakeTenant(t, ca.CertPEM())
	p, err := Prepare(context.Background(), client, ca.CertPEM(), time.Hour, "")
	require.NoError(t, err)
	cm, err := client.CoreV1().ConfigMaps("kube-public").Get(context.Background(), "cluster-info", metav1.GetOptions{})
	require.NoError(t, err)
	srv.mu.Lock()
	srv.data = cm.Data
	srv.mu.Unlock()

	token, err := ParseToken(p.Token)
	require.NoError(t, err)
	got, err := Discover(context.Background(), srv.address(), token, p.CACertHashes)
	require.NoError(t, err)
	assert.Equal(t, ca.CertPEM(), got)
	_, err = BootstrapKubeconfig(p.Servers[0], got, token)
	require.NoError(t, err)
}
