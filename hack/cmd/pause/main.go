// Command pause is the Pod sandbox process of the local meta cluster's pause image: it holds the
// Pod's namespaces and exits cleanly when the sandbox is stopped.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	// As PID 1 of the Pod, children re-parented to us would linger as zombies; reap them.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGCHLD)
	<-sig
}
