package eni

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAPIServer serves Pods in namespace tenant-a over TLS to the bearer token "t0ken", as the
// meta cluster's apiserver would, and returns a kubeconfig for it.
func fakeAPIServer(t *testing.T, pods map[string]map[string]string) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"kind":"Status","message":"Unauthorized"}`))
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, "/api/v1/namespaces/tenant-a/pods/")
		annotations, found := pods[name]
		if !ok || !found {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"kind":"Status","message":"pods \"` + name + `\" not found"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Pod", "metadata": map[string]any{"name": name, "annotations": annotations}})
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("t0ken\n"), 0o600))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	// Files relative to the kubeconfig, as kubectl resolves them.
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
current-context: meta
contexts:
- name: meta
  context: {cluster: meta, user: node}
clusters:
- name: meta
  cluster: {server: "`+srv.URL+`", certificate-authority: ca.crt}
users:
- name: node
  user: {tokenFile: token}
`), 0o600))
	return kubeconfig
}

func TestPodResolver(t *testing.T) {
	kubeconfig := fakeAPIServer(t, map[string]map[string]string{
		"apiserver":   {AnnotationVPCID: "vpc-a", AnnotationSubnetID: "subnet-1"},
		"plain":       nil,
		"subnet-only": {AnnotationSubnetID: "subnet-1"},
	})
	r := PodResolver{Fallback: ArgsResolver{}}
	conf := &NetConf{VPCID: "vpc-default", Kubeconfig: kubeconfig}
	args := func(name string) string { return "IgnoreUnknown=1;K8S_POD_NAMESPACE=tenant-a;K8S_POD_NAME=" + name }

	s, err := r.Resolve(context.Background(), ResolveRequest{CNIArgs: args("apiserver"), Conf: conf})
	require.NoError(t, err)
	assert.Equal(t, Selector{VPCID: "vpc-a", SubnetID: "subnet-1"}, s, "the Pod's annotations win over the configuration's default")

	s, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: args("plain"), Conf: conf})
	require.NoError(t, err)
	assert.Equal(t, Selector{VPCID: "vpc-default"}, s, "without annotations the fallback decides")

	s, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: "", Conf: conf})
	require.NoError(t, err)
	assert.Equal(t, Selector{VPCID: "vpc-default"}, s, "a sandbox that is not a Pod goes to the fallback")

	_, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: args("subnet-only"), Conf: conf})
	requireCode(t, err, types.ErrInvalidNetworkConfig, "Pod tenant-a/subnet-only has annotation eni.taowa.io/subnet-id without eni.taowa.io/vpc-id")

	_, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: args("gone"), Conf: conf})
	requireCode(t, err, types.ErrInvalidEnvironmentVariables, "read Pod tenant-a/gone")
}

func TestPodResolverErrors(t *testing.T) {
	kubeconfig := fakeAPIServer(t, map[string]map[string]string{"apiserver": nil})
	args := "K8S_POD_NAMESPACE=tenant-a;K8S_POD_NAME=apiserver"
	r := PodResolver{Fallback: ArgsResolver{}}

	// A rejected credential is worth a retry (the runtime retries the sandbox), and says why.
	data, err := os.ReadFile(kubeconfig)
	require.NoError(t, err)
	wrongToken := filepath.Join(filepath.Dir(kubeconfig), "wrong")
	require.NoError(t, os.WriteFile(wrongToken, []byte(strings.Replace(string(data), "tokenFile: token", "token: nope", 1)), 0o600))
	_, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: args, Conf: &NetConf{Kubeconfig: wrongToken}})
	requireCode(t, err, types.ErrTryAgainLater, "401 Unauthorized: Unauthorized")

	broken := filepath.Join(filepath.Dir(kubeconfig), "broken")
	require.NoError(t, os.WriteFile(broken, []byte("current-context: none\n"), 0o600))
	_, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: args, Conf: &NetConf{Kubeconfig: broken}})
	requireCode(t, err, types.ErrInvalidNetworkConfig, `current-context "none" names no context with a cluster`)

	_, err = r.Resolve(context.Background(), ResolveRequest{CNIArgs: args, Conf: &NetConf{Kubeconfig: "/nonexistent/kubeconfig"}})
	requireCode(t, err, types.ErrInvalidNetworkConfig, `kubeconfig "/nonexistent/kubeconfig"`)
}

func requireCode(t *testing.T, err error, code uint, msg string) {
	t.Helper()
	var cniErr *types.Error
	require.True(t, errors.As(err, &cniErr), "%v", err)
	assert.Equal(t, code, cniErr.Code, cniErr.Msg)
	assert.Contains(t, cniErr.Msg, msg)
}
