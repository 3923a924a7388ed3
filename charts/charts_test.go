package charts

import (
	"reflect"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

func fileNames(files []*chart.File) map[string]int {
	out := map[string]int{}
	for _, f := range files {
		out[f.Name] = len(f.Data)
	}
	return out
}

// The embedded chart is the chart helm loads from the directory, .helmignore and all.
func TestTenantMasterIsTheDirectorysChart(t *testing.T) {
	embedded, err := TenantMaster()
	if err != nil {
		t.Fatal(err)
	}
	fromDir, err := loader.Load("tenant-master")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(embedded.Metadata, fromDir.Metadata) {
		t.Errorf("metadata %+v, want %+v", embedded.Metadata, fromDir.Metadata)
	}
	got, want := fileNames(embedded.Templates), fileNames(fromDir.Templates)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("templates %v, want %v", got, want)
	}
	if got, want := fileNames(embedded.Files), fileNames(fromDir.Files); !reflect.DeepEqual(got, want) {
		t.Errorf("files %v, want %v (is .helmignore applied?)", got, want)
	}
	if !reflect.DeepEqual(embedded.Values, fromDir.Values) || string(embedded.Schema) != string(fromDir.Schema) {
		t.Error("values or schema differ")
	}
}
