//go:build enifault

package eni

import (
	"fmt"
	"os"
	"time"
)

// faultPoint lets tests freeze the plugin at a named step so they can kill
// it there: when ENI_FAULT_POINT names this point, the plugin writes its pid
// to the file named by ENI_FAULT_READY and blocks. Only binaries built with
// the enifault tag contain it.
func faultPoint(name string) {
	if os.Getenv("ENI_FAULT_POINT") != name {
		return
	}
	if ready := os.Getenv("ENI_FAULT_READY"); ready != "" {
		if err := os.WriteFile(ready, fmt.Appendf(nil, "%d", os.Getpid()), 0o600); err != nil {
			fmt.Fprintf(os.Stderr, "fault point %s: %v\n", name, err)
		}
	}
	for {
		time.Sleep(time.Hour)
	}
}
