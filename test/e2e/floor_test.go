//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/taowa/taowa/internal/certs"
)

// bareControlPlaneStart is the floor a tenant install is measured against: etcd and kube-apiserver
// of the meta cluster's versions started as plain processes on this machine's loopback, with the
// same kind of PKI, timed from the first process start to /readyz answering ok (TLS verified).
// Both processes are stopped and their files removed before it returns.
func bareControlPlaneStart(tb testing.TB) time.Duration {
	tb.Helper()
	cp := startBareControlPlane(tb, false)
	defer cp.stop()
	cp.waitReadyz(tb)
	return time.Since(cp.started)
}

// bareControlPlaneMemory is the floor a tenant's idle memory is measured against: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler of the meta cluster's versions
// started as plain processes on this machine's loopback with their default flags (only what they
// need to run), left alone for idle once the apiserver's /readyz and the controller manager's and
// scheduler's /healthz answer ok. It returns the sum of the four processes' VmRSS in bytes and logs
// each one. The processes are stopped and their files removed before it returns.
func bareControlPlaneMemory(tb testing.TB, idle time.Duration) uint64 {
	tb.Helper()
	cp := startBareControlPlane(tb, true)
	defer cp.stop()
	cp.waitReadyz(tb)
	cp.waitHealthz(tb)
	select {
	case <-time.After(idle):
	case p := <-cp.exited:
		require.FailNow(tb, p.exitMessage())
	}
	var total uint64
	for _, p := range cp.procs {
		rss, err := vmRSS(p.cmd.Process.Pid)
		require.NoError(tb, err, "bare %s", p.name)
		tb.Logf("bare %s: VmRSS %.1f MiB after %s idle", p.name, float64(rss)/(1<<20), idle)
		total += rss
	}
	// Every reading must be of a process that was still running afterwards.
	select {
	case p := <-cp.exited:
		require.FailNow(tb, p.exitMessage())
	default:
	}
	tb.Logf("bare control plane: VmRSS %.1f MiB in all", float64(total)/(1<<20))
	return total
}

// bareControlPlane is etcd and kube-apiserver, and with controllers also kube-controller-manager
// and kube-scheduler, running as plain processes on the loopback with a throwaway PKI.
type bareControlPlane struct {
	dir   string
	procs []*bareProc
	// started is when the first process was started.
	started time.Time
	// exited receives each process that exits before stop kills it.
	exited chan *bareProc
	// apiPort, kcmPort and schedulerPort are the secure ports on 127.0.0.1 (the last two are 0
	// without controllers).
	apiPort, kcmPort, schedulerPort int
	client                          *http.Client
	stopOnce                        sync.Once
}

// bareProc is one component of a bareControlPlane.
type bareProc struct {
	name string
	cmd  *exec.Cmd
	// stderr keeps the end of what the process wrote, for the message when it exits early.
	stderr *tailBuffer
	// done is closed once the process has exited and been reaped.
	done chan struct{}
	err  error
}

func (p *bareProc) exitMessage() string {
	return fmt.Sprintf("bare %s exited early (%v): %s", p.name, p.err, p.stderr)
}

// startBareControlPlane writes the PKI and starts the processes; it does not wait for them. Stop
// them with stop (a deferred call, so that a benchmark calling this in a loop runs one control
// plane at a time); they are stopped at the end of the test at the latest, and at once when this
// fails halfway.
func startBareControlPlane(tb testing.TB, controllers bool) *bareControlPlane {
	tb.Helper()
	dir, err := os.MkdirTemp("", "taowa-floor-")
	require.NoError(tb, err)
	cp := &bareControlPlane{dir: dir, exited: make(chan *bareProc, 4)}
	tb.Cleanup(cp.stop)
	ok := false
	defer func() {
		if !ok {
			cp.stop()
		}
	}()

	ca, err := certs.NewCA("floor-ca", time.Hour)
	require.NoError(tb, err)
	serving, err := ca.Issue(certs.Spec{CommonName: "kube-apiserver", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: time.Hour,
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	require.NoError(tb, err)
	saKey, err := certs.NewKey()
	require.NoError(tb, err)
	cp.apiPort = freePort(tb)
	files := map[string]func() ([]byte, error){
		"ca.crt":      func() ([]byte, error) { return ca.CertPEM(), nil },
		"serving.crt": func() ([]byte, error) { return serving.CertPEM(), nil },
		"serving.key": serving.KeyPEM,
		"sa.key":      func() ([]byte, error) { return certs.KeyPEM(saKey) },
		"sa.pub":      func() ([]byte, error) { return certs.PublicKeyPEM(saKey) },
	}
	if controllers {
		// One client certificate in system:masters for both: the floor, not least privilege.
		admin, err := ca.Issue(certs.Spec{CommonName: "floor-admin", Organization: []string{"system:masters"}, Validity: time.Hour,
			Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		require.NoError(tb, err)
		files["ca.key"] = ca.KeyPEM
		files["admin.kubeconfig"] = func() ([]byte, error) {
			return certs.Kubeconfig("floor", fmt.Sprintf("https://127.0.0.1:%d", cp.apiPort), ca.CertPEM(), "floor-admin", admin)
		}
	}
	for name, data := range files {
		b, err := data()
		require.NoError(tb, err)
		require.NoError(tb, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}

	etcdClient, etcdPeer := freePort(tb), freePort(tb)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	path := func(name string) string { return filepath.Join(dir, name) }
	cmds := []*exec.Cmd{
		exec.Command(env.meta.EtcdBin(), "--name=floor", "--data-dir="+path("etcd"),
			"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
			"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL, "--initial-cluster=floor="+peerURL),
		exec.Command(env.meta.K8sBin("kube-apiserver"), "--etcd-servers="+etcdURL, "--bind-address=127.0.0.1",
			// A loopback address cannot be the kubernetes Service's endpoint: no reconciler.
			fmt.Sprintf("--secure-port=%d", cp.apiPort), "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
			"--tls-cert-file="+path("serving.crt"), "--tls-private-key-file="+path("serving.key"),
			"--client-ca-file="+path("ca.crt"), "--authorization-mode=Node,RBAC",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file="+path("sa.pub"), "--service-account-signing-key-file="+path("sa.key"),
			"--service-cluster-ip-range=10.32.0.0/16"),
	}
	if controllers {
		cp.kcmPort, cp.schedulerPort = freePort(tb), freePort(tb)
		// Their own ports on the loopback, not the defaults, which the meta cluster's may hold.
		cmds = append(cmds,
			exec.Command(env.meta.K8sBin("kube-controller-manager"), "--kubeconfig="+path("admin.kubeconfig"),
				"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", cp.kcmPort),
				"--service-account-private-key-file="+path("sa.key"), "--root-ca-file="+path("ca.crt"),
				"--cluster-signing-cert-file="+path("ca.crt"), "--cluster-signing-key-file="+path("ca.key")),
			exec.Command(env.meta.K8sBin("kube-scheduler"), "--kubeconfig="+path("admin.kubeconfig"),
				"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", cp.schedulerPort)),
		)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cp.client = &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	cp.started = time.Now()
	for _, cmd := range cmds {
		p := &bareProc{name: filepath.Base(cmd.Path), cmd: cmd, stderr: &tailBuffer{}, done: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = io.Discard, p.stderr
		// Should the test binary die before stop, the kernel kills the process.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		cmd.WaitDelay = time.Second
		require.NoError(tb, cmd.Start(), "start bare %s", p.name)
		cp.procs = append(cp.procs, p)
		go func() {
			p.err = cmd.Wait()
			close(p.done)
			cp.exited <- p // buffered for every process: never blocks
		}()
	}
	ok = true
	return cp
}

// stop kills every process by its PID, reaps it and removes the files. It may be called again.
func (cp *bareControlPlane) stop() {
	cp.stopOnce.Do(func() {
		for _, p := range cp.procs {
			_ = p.cmd.Process.Kill()
		}
		for _, p := range cp.procs {
			<-p.done
		}
		if cp.client != nil {
			cp.client.CloseIdleConnections()
		}
		_ = os.RemoveAll(cp.dir)
	})
}

// waitReadyz waits until the apiserver's /readyz answers ok, TLS verified against the test CA,
// and fails at once when a process exits.
func (cp *bareControlPlane) waitReadyz(tb testing.TB) {
	tb.Helper()
	cp.poll(tb, "bare etcd and kube-apiserver: /readyz", 2*time.Minute, func() bool {
		return cp.ok(cp.client, cp.apiPort, "/readyz")
	})
}

// waitHealthz waits until the controller manager's and the scheduler's /healthz answer ok. Their
// serving certificates are self-signed at start: not verified.
func (cp *bareControlPlane) waitHealthz(tb testing.TB) {
	tb.Helper()
	insecure := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer insecure.CloseIdleConnections()
	cp.poll(tb, "bare kube-controller-manager and kube-scheduler: /healthz", time.Minute, func() bool {
		return cp.ok(insecure, cp.kcmPort, "/healthz") && cp.ok(insecure, cp.schedulerPort, "/healthz")
	})
}

func (cp *bareControlPlane) poll(tb testing.TB, what string, timeout time.Duration, ready func() bool) {
	tb.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		select {
		case p := <-cp.exited:
			return false, fmt.Errorf("%s", p.exitMessage())
		default:
		}
		return ready(), nil
	})
	require.NoError(tb, err, what)
}

// ok is whether GET https://127.0.0.1:port/path answers 200 "ok".
func (cp *bareControlPlane) ok(client *http.Client, port int, path string) bool {
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d%s", port, path))
	if err != nil {
		return false
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && string(body) == "ok"
}

// vmRSS is the resident set size of a process, from /proc/<pid>/status, in bytes.
func vmRSS(pid int) (uint64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmRSS %q: %w", pid, strings.TrimSpace(v), err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 4<<10; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
