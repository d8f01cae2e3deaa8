package sign

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// See releaseMemory.
	releaseMemory = func() {}
	os.Exit(m.Run())
}
