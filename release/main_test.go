package release

import (
	"os"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testregistry"
)

// The tests push to one registry, each in a namespace of its own (newEnv).
func TestMain(m *testing.M) { os.Exit(testregistry.Main(m)) }
