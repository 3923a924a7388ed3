package command

import (
	"fmt"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/cli/values"
)

// valueFlags are Helm's --set and -f/--values for the commands that take chart values.
type valueFlags struct{ values.Options }

// register adds --set with setHelp and, when filesHelp is not empty, -f with it.
func (v *valueFlags) register(cmd *cobra.Command, setHelp, filesHelp string) {
	cmd.Flags().StringArrayVar(&v.Values, "set", nil, setHelp)
	if filesHelp != "" {
		cmd.Flags().StringArrayVarP(&v.ValueFiles, "values", "f", nil, filesHelp)
	}
}

// given says whether any value was.
func (v *valueFlags) given() bool { return len(v.Values)+len(v.StringValues)+len(v.ValueFiles) > 0 }

// merged are the values, files first, then each --set in order. No getters: values come from
// files and flags, never from URLs.
func (v *valueFlags) merged() (map[string]any, error) {
	vals, err := v.MergeValues(nil)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	return vals, nil
}
