package reposcan_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"regexp"

	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/reposcan"
)

// The openSUSE images of mirror-registry's example, only the newest build
// of every version.
func ExampleScan() {
	regs, err := oci.NewRegistries(oci.RegistryOptions{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := reposcan.Scan(context.Background(), regs, reposcan.Rule{
		Registry:     "registry.opensuse.org",
		Repositories: regexp.MustCompile(`(^kubic|^opensuse/([^/]+)$)`),
		Minimize:     true,
	})
	var closed *oci.CatalogClosedError
	if errors.As(err, &closed) {
		log.Fatalf("%v (name each repository with Rule.Repository)", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range res.Matches {
		fmt.Printf("%s:%s\n", m.Repository, m.Tag)
	}
	for _, n := range res.Notices {
		log.Print(n)
	}
}
