package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSteps(t *testing.T) {
	steps, err := parseSteps([]string{"--", "skew-check", "--release=a", "--", "pki", "--restart", "--", "etcd-snapshot"})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"skew-check", "--release=a"}, {"pki", "--restart"}, {"etcd-snapshot"}}, steps)

	for msg, args := range map[string][]string{
		`want -- before each command, got "pki"`: {"pki", "--", "ready"},
		`unknown step "steps"`:                   {"--", "steps", "--", "pki"},
		"a -- without a command after it":        {"--", "pki", "--"},
		"no steps":                               nil,
	} {
		_, err := parseSteps(args)
		require.Error(t, err, "%q", args)
		assert.Contains(t, err.Error(), msg)
	}
}
