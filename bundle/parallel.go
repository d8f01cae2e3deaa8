package bundle

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// forEachParallel calls fn(0..n-1) on one goroutine per core and returns
// the first error; after an error, calls not yet started are skipped.
func forEachParallel(ctx context.Context, n int, fn func(int) error) error {
	return forEachParallelN(ctx, runtime.GOMAXPROCS(0), n, fn)
}

// forEachParallelN is forEachParallel on at most workers goroutines.
func forEachParallelN(ctx context.Context, workers, n int, fn func(int) error) error {
	workers = min(workers, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= n || ctx.Err() != nil {
					return
				}
				if err := fn(k); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
