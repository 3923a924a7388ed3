// Command taowa-postrender is the Helm post-renderer for charts/tenant-master: rendered manifests
// on stdin, the same manifests with each control-plane command line fitted to the target
// Kubernetes version on stdout.
//
//	helm install tenant-a charts/tenant-master --post-renderer ./bin/taowa-postrender   # Helm 3: a path
//	helm install tenant-a charts/tenant-master --post-renderer taowa-postrender         # Helm 4: the plugin
//
// Helm 4 runs it as the plugin in postrender/plugin (see plugin.yaml for installing it).
//
// On any error it exits 1 with the reason on stderr and writes nothing to stdout, so Helm never
// applies half a rewrite.
package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/taowa/taowa/postrender"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: taowa-postrender < manifests.yaml > rewritten.yaml (no arguments)")
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	// Render buffers the whole output and writes it only on success.
	if err := postrender.Render(os.Stdin, out, postrender.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, "taowa-postrender:", err)
		os.Exit(1)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "taowa-postrender: write manifests:", err)
		os.Exit(1)
	}
}
