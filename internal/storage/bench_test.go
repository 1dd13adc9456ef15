package storage

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// benchBatch is a ~16 KiB batch of 16 records of 1 KiB.
func benchBatch() []byte { return makeBatch(batchSpec{records: 16, valueSize: 1024}) }

func BenchmarkAppend(b *testing.B) {
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 64 << 20
	m, l, _ := newTestLog(b, cfg)
	defer m.Close()
	batch := benchBatch()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.AppendAsLeader(batch, 0, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendIdempotent(b *testing.B) {
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 64 << 20
	m, l, _ := newTestLog(b, cfg)
	defer m.Close()
	batches := make([][]byte, 64)
	for i := range batches {
		batches[i] = makeBatch(batchSpec{records: 16, valueSize: 1024, idem: true, producerID: 1})
	}
	b.SetBytes(int64(len(batches[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := batches[i%len(batches)]
		setSeq(batch, int32(i*16))
		if _, err := l.AppendAsLeader(batch, 0, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// setSeq rewrites a batch's base sequence (and its CRC).
func setSeq(batch []byte, seq int32) {
	batch[53], batch[54], batch[55], batch[56] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	recordsUpdateCRC(batch)
}

// BenchmarkRead reads 1 MiB at scattered offsets into a new buffer per
// read (Read) and into a reused one (ReadAlloc, as the broker does with
// its buffer pool).
func BenchmarkRead(b *testing.B) {
	b.Run("alloc", func(b *testing.B) { benchRead(b, "alloc") })
	b.Run("pooled", func(b *testing.B) { benchRead(b, "pooled") })
	b.Run("region", func(b *testing.B) { benchRead(b, "region") })
}

// benchRead reads 1 MiB at a time: into a new buffer (alloc), into a
// reused one (pooled), or as a file region for sendfile, which reads only
// batch headers (region).
func benchRead(b *testing.B, mode string) {
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 64 << 20
	m, l, _ := newTestLog(b, cfg)
	defer m.Close()
	batch := benchBatch()
	const n = 4096 // 64 MiB
	for i := 0; i < n; i++ {
		if _, err := l.AppendAsLeader(batch, 0, t0); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(0)
	var buf []byte
	alloc := func(n int) []byte {
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		return buf[:n]
	}
	for i := 0; i < b.N; i++ {
		var (
			res ReadResult
			rg  *Region
			err error
		)
		switch mode {
		case "pooled":
			res, err = l.ReadAlloc(off, 1<<20, -1, true, alloc)
		case "region":
			res, rg, err = l.ReadRegion(off, 1<<20, -1, true, 1, alloc)
		default:
			res, err = l.Read(off, 1<<20, -1, true)
		}
		if err != nil {
			b.Fatal(err)
		}
		if rg != nil {
			rg.Release()
		} else if len(res.Records) == 0 || mode == "region" {
			b.Fatal("empty read, or no region")
		}
		off = (off + 997*16) % leo
	}
}

func BenchmarkIndexLookup(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		name := "active"
		if sealed {
			name = "sealed"
		}
		b.Run(name, func(b *testing.B) {
			cfg := DefaultLogConfig()
			cfg.IndexIntervalBytes = 0 // an entry per batch
			m, l, _ := newTestLog(b, cfg)
			defer m.Close()
			batch := makeBatch(batchSpec{records: 4, valueSize: 10})
			const n = 100000
			for i := 0; i < n; i++ {
				if _, err := l.AppendAsLeader(batch, 0, t0); err != nil {
					b.Fatal(err)
				}
			}
			l.mu.Lock()
			s := l.activeLocked()
			if sealed {
				if err := s.seal(); err != nil {
					b.Fatal(err)
				}
			}
			l.mu.Unlock()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.idx.lookupPosition(int64(i*7919) % (4 * n)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreateLogs creates 1,000 logs in a fresh dir per iteration,
// one goroutine after another (serial) and from 16 goroutines (as the
// broker's worker pool does when a topic with many partitions is created).
// The cost is dominated by the fsyncs of partition.metadata and its
// directory.
func BenchmarkCreateLogs(b *testing.B) {
	const logs = 1000
	for _, workers := range []int{1, 16} {
		name := "serial"
		if workers > 1 {
			name = fmt.Sprintf("goroutines=%d", workers)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				m := openManager(b, vfs.OS, dir)
				b.StartTimer()
				start := time.Now()
				var next atomic.Int32
				var wg sync.WaitGroup
				for w := 0; w < workers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							p := next.Add(1) - 1
							if p >= logs {
								return
							}
							tp := TopicPartition{Topic: "bench", Partition: p}
							if _, err := m.GetOrCreate(tp, [16]byte{1}, testConfig(), t0); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				total += time.Since(start)
				b.StopTimer()
				m.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N*logs), "µs/log")
		})
	}
}
