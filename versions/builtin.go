package versions

import (
	_ "embed"
	"fmt"
)

//go:embed versions.yaml
var builtinData []byte

var builtin = mustLoad(builtinData)

// Builtin returns the table compiled into taowa from versions.yaml. The functions below ask it.
func Builtin() *Table { return builtin }

func mustLoad(data []byte) *Table {
	t, err := Load(data)
	if err != nil {
		panic(fmt.Sprintf("versions: embedded versions.yaml: %v", err))
	}
	return t
}

// Supported returns the supported Kubernetes minors, oldest first.
func Supported() []Minor { return builtin.Supported() }

// Default returns the Kubernetes version a new tenant control plane runs.
func Default() Version { return builtin.Default() }

// ForMinor returns the release taowa runs for a Kubernetes minor.
func ForMinor(m Minor) (Release, error) { return builtin.ForMinor(m) }

// EtcdFor returns the etcd release a control plane of Kubernetes version k runs.
func EtcdFor(k Version) (Version, error) { return builtin.EtcdFor(k) }

// CheckUpgrade returns nil when a control plane may go from version from to version to in one
// step; see Table.CheckUpgrade.
func CheckUpgrade(from, to Version) error { return builtin.CheckUpgrade(from, to) }

// CheckRollback returns nil when a control plane may go back from version from to version to;
// see Table.CheckRollback.
func CheckRollback(from, to Version) error { return builtin.CheckRollback(from, to) }
