package tenants

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"helm.sh/helm/v3/pkg/chart"
)

// chartTurn is the one chart-only upgrade (ApplyChartUpgraded) allowed in flight in the process,
// so that a new operator rolls its chart out to existing tenants one at a time. Apply does not
// wait for it: a tenant whose turn it is not stays as it is (ApplyResult.ChartPending) and gets
// the chart at a later Apply, e.g. the operator's next resync, instead of holding a worker.
var chartTurn = make(chan struct{}, 1)

// takeChartTurn takes chartTurn if it is free; done gives it back.
func takeChartTurn() (done func(), ok bool) {
	select {
	case chartTurn <- struct{}{}:
		return func() { <-chartTurn }, true
	default:
		return nil, false
	}
}

// chartChange compares the chart of a deployed revision with ch by chartDigest: "" when they are
// the same, else the change as progress lines name it.
func chartChange(deployed, ch *chart.Chart) (string, error) {
	was, err := chartDigest(deployed)
	if err != nil {
		return "", err
	}
	now, err := chartDigest(ch)
	if err != nil || was == now {
		return "", err
	}
	return fmt.Sprintf("%s (sha256:%.12s) -> %s (sha256:%.12s)", deployed.Metadata.Version, was, ch.Metadata.Version, now), nil
}

// chartDigest identifies what a chart renders from: its metadata, default values, schema,
// templates and other files. Apply compares it, not Chart.yaml's version and appVersion (the Helm
// way), because charts/tenant-master changes without a version bump (its version has stayed
// 0.1.0) and travels inside the operator's binary: the content is what says that a new operator
// brings a new chart. Helm stores exactly these parts of the chart in each release (not Raw,
// which it drops), so the deployed revision's chart gives the digest of the chart it was made
// from. Helm's --reuse-values stores the coalesced values as the chart's: such a revision differs
// once, until a chart-only upgrade (Apply's values replace, they do not reuse) stores the chart's
// own.
func chartDigest(ch *chart.Chart) (string, error) {
	byName := func(files []*chart.File) []*chart.File {
		return slices.SortedFunc(slices.Values(files), func(a, b *chart.File) int { return cmp.Compare(a.Name, b.Name) })
	}
	h := sha256.New()
	// encoding/json sorts map keys, and values in Go and values read back from a release encode
	// alike (both are JSON types).
	err := json.NewEncoder(h).Encode([]any{ch.Metadata, ch.Values, ch.Schema, byName(ch.Templates), byName(ch.Files)})
	if err != nil {
		return "", fmt.Errorf("digest of chart %s: %w", ch.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
