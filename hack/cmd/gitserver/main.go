// Command gitserver serves git repositories over git's smart HTTP protocol with git's own
// git-http-backend (Debian's git package), for Argo CD on the local meta cluster to sync from. It
// creates the named bare repositories, pushable over HTTP, when they do not exist.
//
// usage: gitserver [-listen :8080] [-root /srv/git] [-backend /usr/lib/git-core/git-http-backend] REPO...
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	root := flag.String("root", "/srv/git", "directory holding the bare repositories")
	backend := flag.String("backend", "/usr/lib/git-core/git-http-backend", "git's CGI program")
	flag.Parse()
	for _, repo := range flag.Args() {
		if err := createRepo(filepath.Join(*root, repo+".git")); err != nil {
			log.Fatal(err)
		}
	}
	http.Handle("/", &cgi.Handler{
		Path: *backend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + *root,
			"GIT_HTTP_EXPORT_ALL=1",
			// git refuses repositories owned by another user unless told otherwise.
			"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*",
		},
		InheritEnv: []string{"PATH", "HOME"},
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	log.Printf("serving %s on %s", *root, *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}

// createRepo makes a bare repository that accepts pushes over HTTP, unless one is there.
func createRepo(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	}
	for _, args := range [][]string{
		{"init", "--quiet", "--bare", "--initial-branch=main", dir},
		{"-C", dir, "config", "http.receivepack", "true"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %w: %s", args, err, out)
		}
	}
	return nil
}
