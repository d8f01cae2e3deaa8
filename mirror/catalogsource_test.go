package mirror

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestCatalogSources(t *testing.T) {
	dir := t.TempDir()
	m := Mapping{Mirror: "mirror.example:5000"}
	id := strings.Repeat("ab", 16)
	files, err := m.WriteConfig(dir, []Entry{{Source: "registry.redhat.io/redhat/redhat-operator-index", Mirror: "mirror.example:5000/redhat/redhat-operator-index"}},
		ConfigOptions{BundleID: id, Catalogs: []Catalog{
			{Source: "registry.redhat.io/redhat/redhat-operator-index:v4.18", Image: "mirror.example:5000/redhat/redhat-operator-index:v4.18"},
			{Source: "registry.redhat.io/redhat/certified-operator-index:v4.18", Image: "mirror.example:5000/redhat/certified-operator-index@sha256:" + strings.Repeat("0", 64)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bundle-"+id[:12]+"-catalogsources.yaml")
	found := false
	for _, f := range files {
		found = found || f == path
	}
	if !found {
		t.Fatalf("wrote %v, no %s", files, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type cs struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Metadata   struct {
			Name, Namespace string
			Annotations     map[string]string
		}
		Spec struct {
			SourceType string `yaml:"sourceType"`
			Image      string
		}
	}
	var got []cs
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(false)
	for {
		var c cs
		if err := dec.Decode(&c); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		got = append(got, c)
	}
	if len(got) != 2 {
		t.Fatalf("%d objects:\n%s", len(got), data)
	}
	want := []struct{ name, image string }{
		{"cs-certified-operator-index-v4-18", "mirror.example:5000/redhat/certified-operator-index@sha256:" + strings.Repeat("0", 64)},
		{"cs-redhat-operator-index-v4-18", "mirror.example:5000/redhat/redhat-operator-index:v4.18"},
	}
	for i, w := range want {
		c := got[i]
		if c.APIVersion != "operators.coreos.com/v1alpha1" || c.Kind != "CatalogSource" || c.Metadata.Name != w.name ||
			c.Metadata.Namespace != "openshift-marketplace" || c.Spec.SourceType != "grpc" || c.Spec.Image != w.image ||
			c.Metadata.Annotations[BundlesAnnotation] != id {
			t.Errorf("object %d: %+v, want name %s image %s", i, c, w.name, w.image)
		}
	}

	_, err = m.WriteConfig(t.TempDir(), nil, ConfigOptions{BundleID: id, Catalogs: []Catalog{
		{Source: "a.example/x/index:v1", Image: "m/x/index:v1"}, {Source: "b.example/y/index:v1", Image: "m/y/index:v1"}}})
	if err == nil || !strings.Contains(err.Error(), "cs-index-v1") {
		t.Fatalf("two catalogs with one CatalogSource name: %v", err)
	}
}
