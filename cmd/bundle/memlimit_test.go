package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestFollowLiveHeap: while pack runs, the soft memory limit stays above a
// live heap larger than it, and is put back after.
func TestFollowLiveHeap(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	const floor = 16 << 20
	old := debug.SetMemoryLimit(floor)
	defer debug.SetMemoryLimit(old)
	stop := followLiveHeap()
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	var limit int64
	for try := 0; try < 100 && limit < 64<<20; try++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the cleanup runs on its own goroutine
		limit = debug.SetMemoryLimit(-1)
	}
	runtime.KeepAlive(live)
	if limit < 64<<20+32<<20 {
		t.Fatalf("limit %d with 64 MiB live, want half above", limit)
	}
	if p := gcPercent(); p != 25 {
		t.Errorf("GOGC %d with 64 MiB live, want 25", p)
	}
	stop()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if got := debug.SetMemoryLimit(-1); got != floor {
		t.Fatalf("limit %d after stop, want %d", got, floor)
	}
	if p := gcPercent(); p != 100 {
		t.Errorf("GOGC %d after stop, want 100", p)
	}
}

// gcPercent is the collector's GOGC setting.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestFollowLiveHeapLeavesAChosenLimit: with GOMEMLIMIT set, or no limit,
// pack leaves the limit alone.
func TestFollowLiveHeapLeavesAChosenLimit(t *testing.T) {
	old := debug.SetMemoryLimit(16 << 20)
	defer debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "16MiB")
	stop := followLiveHeap()
	live := make([]byte, 64<<20)
	runtime.GC()
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	runtime.KeepAlive(live)
	if got := debug.SetMemoryLimit(-1); got != 16<<20 {
		t.Fatalf("limit %d, want the user's", got)
	}
	stop()
}
