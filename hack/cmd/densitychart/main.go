// Command densitychart draws the result of the density benchmark (`make bench-density`, which
// writes bench-out/density.json) as the PNG docs/benchmarks.md shows.
//
//	go run ./hack/cmd/densitychart -in bench-out/density.json -out docs/density.png
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/taowa/taowa/hack/density"
)

func main() {
	in := flag.String("in", "bench-out/density.json", "the density benchmark's result (JSON)")
	out := flag.String("out", "density.png", "the PNG to write")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "densitychart:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r density.Result
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var buf bytes.Buffer
	if err := density.WritePNG(&buf, r); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
