// Command taowa-versions prints taowa's support matrix from the version table, for people and for
// scripts (make e2e-versions builds and tests exactly what it lists).
//
//	taowa-versions             the matrix: Kubernetes minor, patch release, etcd release
//	taowa-versions kubernetes  the Kubernetes releases, one per line (v1.31.13 ...)
//	taowa-versions etcd        the distinct etcd releases (v3.5.24 ...)
package main

import (
	"fmt"
	"os"

	"github.com/taowa/taowa/versions"
)

func main() {
	releases := versions.Builtin().Releases()
	what := ""
	if len(os.Args) > 1 {
		what = os.Args[1]
	}
	switch what {
	case "":
		fmt.Println("MINOR\tKUBERNETES\tETCD")
		for _, r := range releases {
			fmt.Printf("%s\t%s\t%s\n", r.Kubernetes.MajorMinor(), r.Kubernetes, r.Etcd)
		}
	case "kubernetes":
		for _, r := range releases {
			fmt.Printf("v%s\n", r.Kubernetes)
		}
	case "etcd":
		seen := map[string]bool{}
		for _, r := range releases {
			if v := r.Etcd.String(); !seen[v] {
				seen[v] = true
				fmt.Printf("v%s\n", v)
			}
		}
	default:
		fmt.Fprintf(os.Stderr, "taowa-versions: unknown argument %q (want kubernetes or etcd)\n", what)
		os.Exit(2)
	}
}
