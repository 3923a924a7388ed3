// Package charts carries the tenant-master chart inside the binaries that apply it (the taowa
// operator), so that a program and the chart it was built and tested with travel together.
package charts

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/ignore"
)

//go:embed all:tenant-master
var tenantMaster embed.FS

// TenantMaster loads the embedded charts/tenant-master as `helm package` would see it: the
// files its .helmignore names are left out.
func TenantMaster() (*chart.Chart, error) {
	const dir = "tenant-master"
	rulesFile, err := tenantMaster.ReadFile(path.Join(dir, ignore.HelmIgnore))
	if err != nil {
		return nil, fmt.Errorf("embedded chart %s: %w", dir, err)
	}
	rules, err := ignore.Parse(bytes.NewReader(rulesFile))
	if err != nil {
		return nil, fmt.Errorf("embedded chart %s: %s: %w", dir, ignore.HelmIgnore, err)
	}
	rules.AddDefaults()
	root, err := fs.Sub(tenantMaster, dir)
	if err != nil {
		return nil, err
	}
	var files []*loader.BufferedFile
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || name == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if rules.Ignore(name, info) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: name, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded chart %s: %w", dir, err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("embedded chart %s: %w", dir, err)
	}
	return ch, nil
}
