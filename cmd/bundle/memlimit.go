package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// followLiveHeap lets the heap grow a quarter above the live heap found by
// each collection once that passes the soft memory limit (memoryLimit, as
// main sets it), with the limit half above it, and returns the function
// that puts both back.
//
// Pack holds what it packs while it plans: an entry per blob, tag and
// manifest, some 650 bytes a blob; a reader holds the bundle's index
// (format version 2: the blob tables of its volumes). With a limit below the live heap the
// collector runs again as soon as it finishes, bounded only by its CPU
// limiter: at 450,000 blobs that took 2.6 times the CPU and the wall time
// of the same run with room (and more the more blobs: it was what made
// pack superlinear). Up to a live heap of 160 MiB this changes nothing.
// With GOMEMLIMIT set, or no limit, the limit stands; with GOGC set, the
// growth it says.
func followLiveHeap() (stop func()) {
	floor := debug.SetMemoryLimit(-1)
	if os.Getenv("GOMEMLIMIT") != "" || floor == math.MaxInt64 {
		return func() {}
	}
	f := &heapFollower{floor: floor, percent: os.Getenv("GOGC") == ""}
	f.arm()
	return f.stop
}

// heapFollower is followLiveHeap's state.
type heapFollower struct {
	floor   int64
	percent bool // GOGC is not set: the follower sets it
	mu      sync.Mutex
	stopped bool
}

// gcSentinel is allocated to be collected: its cleanup runs after the
// collection that found it unreachable. It is larger than the tiny
// allocator's blocks, which free their objects together.
type gcSentinel struct{ _ [64]byte }

func (f *heapFollower) arm() {
	runtime.AddCleanup(new(gcSentinel), (*heapFollower).collected, f)
}

// collected sets the limit after a collection and waits for the next.
func (f *heapFollower) collected() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		live := int64(s[0].Value.Uint64())
		// The heap may grow a quarter past the live heap before the next
		// collection (GOGC 25), and the limit is a backstop half above
		// it, which also makes the runtime give freed memory back. A
		// limit of a quarter above alone left the heap only a few percent
		// to grow: the limit counts what the runtime holds besides the
		// live heap (freed spans not yet given back, fragmentation), and
		// at a million blobs unpack collected every 25 MB, 300 times,
		// half its CPU (issue 15).
		if live+live/4 > f.floor && f.percent {
			debug.SetGCPercent(25)
		} else if f.percent {
			debug.SetGCPercent(100)
		}
		debug.SetMemoryLimit(max(f.floor, live+live/2))
	}
	f.arm()
}

func (f *heapFollower) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	debug.SetMemoryLimit(f.floor)
	if f.percent {
		debug.SetGCPercent(100)
	}
}
