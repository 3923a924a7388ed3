// Command taowa creates, upgrades and inspects tenant masters, the Helm releases of
// charts/tenant-master; see release/README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/taowa/taowa/release/command"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := command.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "taowa:", err)
		os.Exit(1)
	}
}
