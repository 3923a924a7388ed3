package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The test binary doubles as the command: run with this variable set, it runs main.
const runMain = "TAOWA_POSTRENDER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func run(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMain+"=1")
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		exitCode = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), exitCode
}

func TestRewritesStdinToStdout(t *testing.T) {
	input, err := os.ReadFile("../../testdata/tenant-master.yaml")
	if err != nil {
		t.Fatal(err)
	}
	input = bytes.ReplaceAll(input, []byte("@KUBERNETES_VERSION@"), []byte("1.37.2"))
	stdout, stderr, code := run(t, input)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "--watch-progress-notify-interval=5s") {
		t.Errorf("stdout lacks the rewritten etcd flags:\n%s", stdout)
	}
}

func TestErrorWritesNothingToStdout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"no version", "apiVersion: v1\nkind: ConfigMap\n", nil, 1, "taowa-postrender: no version found"},
		{"not YAML", "kind: [\n", nil, 1, "not YAML"},
		{"arguments", "", []string{"--version"}, 2, "usage: taowa-postrender"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, []byte(tc.stdin), tc.args...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout, stderr with %q",
					code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}
}
