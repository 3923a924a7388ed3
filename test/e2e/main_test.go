//go:build e2e

// Package e2e holds taowa's end-to-end tests. They run against the cluster named by KUBECONFIG
// or, when none is given, against the local meta cluster, which they bring up themselves and
// remove at the end, asserting that nothing of it is left on the machine.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/hack/metacluster"
)

// env is what every test needs to reach the meta cluster.
var env struct {
	kubeconfig string
	kubectl    string
	client     *kubernetes.Clientset
	// local is set when the tests run on the local meta cluster they brought up.
	local bool
	meta  metacluster.Config
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// metaclusterBin is the program `make build` writes.
func metaclusterBin() string { return filepath.Join(repoRoot(), "bin", "taowa-metacluster") }

func metaclusterCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, metaclusterBin(), args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env.meta = metacluster.DefaultConfig()
	env.meta.BinDir = filepath.Join(repoRoot(), "bin")
	env.kubectl = env.meta.K8sBin("kubectl")
	env.kubeconfig = os.Getenv("KUBECONFIG")
	if env.kubeconfig == "" {
		env.local = true
		env.kubeconfig = env.meta.KubeconfigPath()
		if err := metaclusterCmd(context.Background(), "up").Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: bring up the local meta cluster: %v\n", err)
			return 1
		}
	} else if p, err := exec.LookPath("kubectl"); err == nil {
		env.kubectl = p
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: kubeconfig %s: %v\n", env.kubeconfig, err)
		return 1
	}
	if env.client, err = kubernetes.NewForConfig(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	code := m.Run()
	if env.local && os.Getenv("TAOWA_E2E_KEEP") == "" {
		if err := downLeavesNothing(); err != nil {
			fmt.Fprintf(os.Stderr, "--- FAIL: local meta cluster teardown: %v\n", err)
			return 1
		}
		fmt.Println("--- PASS: local meta cluster teardown: nothing left behind")
	}
	return code
}

// downLeavesNothing runs `down` and checks the machine for anything the cluster had: its
// processes (by the PIDs recorded before), mounts, network namespaces, links and cgroups.
func downLeavesNothing() error {
	before, err := clusterFootprint()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := metaclusterCmd(ctx, "down").Run(); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	return before.checkGone()
}
