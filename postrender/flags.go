package postrender

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/taowa/taowa/versions"
)

const featureGatesFlag = "feature-gates"

// arg is one --name=value on a command line.
type arg struct{ name, value string }

// commandLine is where a container keeps its flags: in args, or in command after the binary.
type commandLine struct {
	flags     []arg
	inCommand bool
}

// containerCommandLine reads the chart's default flags: from args, or, when the container has no
// args, from command after the binary.
func containerCommandLine(container map[string]any) (commandLine, error) {
	command, err := stringList(container, "command")
	if err != nil {
		return commandLine{}, err
	}
	args, err := stringList(container, "args")
	if err != nil {
		return commandLine{}, err
	}
	if len(args) == 0 && len(command) > 0 {
		flags, err := parseFlags(command[1:])
		return commandLine{flags: flags, inCommand: true}, err
	}
	if len(command) > 1 && strings.HasPrefix(command[1], "-") {
		return commandLine{}, errors.New("flags in both command and args; keep them in one place")
	}
	flags, err := parseFlags(args)
	return commandLine{flags: flags}, err
}

// set writes flags back where the container had them.
func (c commandLine) set(container map[string]any, flags []string) {
	if c.inCommand {
		binary := container["command"].([]any)[0]
		container["command"] = append([]any{binary}, toAny(flags)...)
		return
	}
	container["args"] = toAny(flags)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func stringList(container map[string]any, key string) ([]string, error) {
	raw, ok := container[key]
	if !ok || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a list", key)
	}
	out := make([]string, len(list))
	for i, item := range list {
		if out[i], ok = item.(string); !ok {
			return nil, fmt.Errorf("%s[%d] is %v, not a string", key, i, item)
		}
	}
	return out, nil
}

func parseFlags(args []string) ([]arg, error) {
	flags := make([]arg, len(args))
	for i, s := range args {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(s, "--"), "=")
		if !strings.HasPrefix(s, "--") || !hasValue || name == "" || strings.HasPrefix(name, "-") {
			return nil, fmt.Errorf("%q is not of the form --name=value", s)
		}
		flags[i] = arg{name, value}
	}
	return flags, nil
}

// parseExtraArgs reads the user's flags: a JSON object from flag name to value. Numbers and
// booleans are taken as written, since Helm's toJson turns a values.yaml `v: 4` into a number.
func parseExtraArgs(annotation string) ([]arg, error) {
	if strings.TrimSpace(annotation) == "" {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(annotation), &raw); err != nil {
		return nil, fmt.Errorf(`want a JSON object such as {"v": "4"}: %w`, err)
	}
	var flags []arg
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		if name == "" || strings.HasPrefix(name, "-") || strings.Contains(name, "=") {
			return nil, fmt.Errorf("flag name %q: write names without dashes or values, e.g. \"v\"", name)
		}
		value := raw[name]
		var text string
		if err := json.Unmarshal(value, &text); err != nil {
			if json.Unmarshal(value, new(json.Number)) != nil && json.Unmarshal(value, new(bool)) != nil {
				return nil, fmt.Errorf("flag %s: value %s is not a string, number or boolean", name, value)
			}
			text = string(bytes.TrimSpace(value))
		}
		flags = append(flags, arg{name, text})
	}
	return flags, nil
}

// parseGates reads "A=true,B=false" as the components do (component-base cliflag.MapStringBool).
func parseGates(value string) (map[string]bool, error) {
	gates := map[string]bool{}
	for entry := range strings.SplitSeq(value, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		name, raw, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		enabled, err := strconv.ParseBool(strings.TrimSpace(raw))
		if !ok || name == "" || err != nil {
			return nil, fmt.Errorf("--%s entry %q is not of the form Name=true or Name=false", featureGatesFlag, entry)
		}
		gates[name] = enabled
	}
	return gates, nil
}

// source is where a setting came from; later sources override earlier ones.
type source int

const (
	fromTable source = iota // what the version requires (versions.Profile.Required)
	fromChart               // the chart's defaults in the container
	fromUser                // the user's taowa.io/extra-args
)

// settings accumulates a component's flags and feature gates, each in the target version's form.
type settings struct {
	profile versions.Profile
	flags   map[string][]string // several values when a flag is repeated, as --tls-sni-cert-key may be
	from    map[string]source
	gates   map[string]bool
	errs    []error
}

// buildFlags returns the container's new command line: the version's required settings, then
// the chart's defaults the version knows, then the user's flags, sorted by name as kubeadm does.
func buildFlags(profile versions.Profile, defaults, extra []arg) ([]string, error) {
	s := &settings{profile: profile, flags: map[string][]string{}, from: map[string]source{}, gates: map[string]bool{}}
	for _, r := range profile.Required() {
		s.add(r.Setting, r.Value, fromTable)
	}
	for _, f := range defaults {
		s.addFlag(f, fromChart)
	}
	for _, f := range extra {
		s.addFlag(f, fromUser)
	}
	if err := errors.Join(s.errs...); err != nil {
		return nil, err
	}
	if len(s.gates) > 0 {
		var gates []string
		for _, name := range slices.Sorted(maps.Keys(s.gates)) {
			gates = append(gates, name+"="+strconv.FormatBool(s.gates[name]))
		}
		s.flags[featureGatesFlag] = []string{strings.Join(gates, ",")}
	}
	var args []string
	for _, name := range slices.Sorted(maps.Keys(s.flags)) {
		for _, value := range s.flags[name] {
			args = append(args, "--"+name+"="+value)
		}
	}
	return args, nil
}

func (s *settings) addFlag(f arg, from source) {
	if f.name != featureGatesFlag {
		s.add(versions.Setting{Name: f.name}, f.value, from)
		return
	}
	gates, err := parseGates(f.value)
	if err != nil {
		s.fail(from, err)
		return
	}
	for _, name := range slices.Sorted(maps.Keys(gates)) {
		s.add(versions.Setting{Name: name, Gate: true}, strconv.FormatBool(gates[name]), from)
	}
}

// add records one setting after translating it into the version's form. What the version does
// not know is dropped when it comes from the chart, whose defaults serve every version, and is
// an error when the user asked for it.
func (s *settings) add(setting versions.Setting, value string, from source) {
	current := s.profile.Current(setting)
	if !s.profile.Known(current) {
		if from != fromChart {
			s.fail(from, fmt.Errorf("%s has no %s", s.profile, setting))
		}
		return
	}
	if !current.Gate {
		if s.from[current.Name] < from {
			delete(s.flags, current.Name) // a later source replaces every earlier value
		}
		s.from[current.Name] = from
		s.flags[current.Name] = append(s.flags[current.Name], value)
		return
	}
	enabled, err := strconv.ParseBool(value)
	if err != nil {
		what := current.String()
		if setting != current {
			what += " (from " + setting.String() + ")"
		}
		s.fail(from, fmt.Errorf("%s needs true or false, not %q", what, value))
		return
	}
	if locked, isLocked := s.profile.GateLocked(current.Name); isLocked {
		switch {
		case from != fromUser:
			return // it tells the component nothing it does not already do
		case enabled != locked:
			s.fail(from, fmt.Errorf("%s is locked to %t in %s; the component exits when it is set otherwise", current, locked, s.profile))
			return
		}
	}
	s.gates[current.Name] = enabled
}

func (s *settings) fail(from source, err error) {
	if from == fromUser {
		err = fmt.Errorf("%s: %w", AnnotationExtraArgs, err)
	}
	s.errs = append(s.errs, err)
}
