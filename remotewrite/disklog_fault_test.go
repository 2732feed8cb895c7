package remotewrite

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// faultFS is the operating system's file system with faults injected: while
// an error is set, the operation fails with it.
type faultFS struct {
	mu     sync.Mutex
	faults faults
}

// faults are the errors a faultFS injects.
type faults struct {
	writeErr    error // Write, after writing half of its bytes
	truncateErr error
	syncErr     error
	createErr   error // openAppend of a file that does not exist yet
	readErr     error // Read of a segment opened to read
}

var _ fileSystem = (*faultFS)(nil)

func (f *faultFS) set(fn func(*faults)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.faults)
}

func (f *faultFS) get(fn func(*faults) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fn(&f.faults)
}

func (f *faultFS) openAppend(name string) (segmentFile, error) {
	if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
		if err := f.get(func(f *faults) error { return f.createErr }); err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
	w, err := osFS{}.openAppend(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{segmentFile: w, fs: f}, nil
}

func (f *faultFS) open(name string) (io.ReadSeekCloser, error) {
	r, err := osFS{}.open(name)
	if err != nil {
		return nil, err
	}
	return &faultReader{ReadSeekCloser: r, fs: f}, nil
}

type faultFile struct {
	segmentFile
	fs *faultFS
}

func (w *faultFile) Write(b []byte) (int, error) {
	if err := w.fs.get(func(f *faults) error { return f.writeErr }); err != nil {
		// As a full disk does: some bytes make it.
		n, _ := w.segmentFile.Write(b[:len(b)/2])
		return n, err
	}
	return w.segmentFile.Write(b)
}

func (w *faultFile) Truncate(size int64) error {
	if err := w.fs.get(func(f *faults) error { return f.truncateErr }); err != nil {
		return err
	}
	return w.segmentFile.Truncate(size)
}

func (w *faultFile) Sync() error {
	if err := w.fs.get(func(f *faults) error { return f.syncErr }); err != nil {
		return err
	}
	return w.segmentFile.Sync()
}

type faultReader struct {
	io.ReadSeekCloser
	fs *faultFS
}

func (r *faultReader) Read(b []byte) (int, error) {
	if err := r.fs.get(func(f *faults) error { return f.readErr }); err != nil {
		return 0, err
	}
	return r.ReadSeekCloser.Read(b)
}

// TestDiskLogFaults injects a fault into each file operation of the log:
// the append or read in the fault fails, the log says it is failing, and
// once the fault is gone it works again with nothing lost that it had
// taken, also across a restart.
func TestDiskLogFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before are appended first, then fault is set and the record
		// failed appended (and failing) with it, all failing. Then the
		// fault is cleared and after appended.
		before  []int
		fault   func(*faults)
		failing []int
		after   []int
		// segSize of the log, 0 for the default.
		segSize int64
		// wantErr is what the failed appends return; wantReason how
		// their samples are counted.
		wantErr    error
		wantReason string
		// wantSegs is the number of segments at the end.
		wantSegs int
		// wantCorrupt is whether a restart finds a corrupt segment.
		wantCorrupt bool
	}{
		{
			name:    "disk full",
			before:  []int{0, 1},
			fault:   func(f *faults) { f.writeErr = syscall.ENOSPC },
			failing: []int{2, 3},
			after:   []int{4, 5},
			wantErr: syscall.ENOSPC, wantReason: reasonDiskFull,
			// Cut back and left: the full one can go once sent.
			wantSegs: 2,
		},
		{
			name:    "write error",
			before:  []int{0, 1},
			fault:   func(f *faults) { f.writeErr = syscall.EIO },
			failing: []int{2},
			after:   []int{4},
			wantErr: syscall.EIO, wantReason: reasonDiskWrite,
			wantSegs: 2,
		},
		{
			name:    "write error in an empty segment",
			fault:   func(f *faults) { f.writeErr = syscall.EIO },
			failing: []int{2, 3},
			after:   []int{4},
			wantErr: syscall.EIO, wantReason: reasonDiskWrite,
			// Cut back to empty: nothing to leave.
			wantSegs: 1,
		},
		{
			name:   "write and truncate fail",
			before: []int{0, 1},
			fault: func(f *faults) {
				f.writeErr = syscall.ENOSPC
				f.truncateErr = syscall.EIO
			},
			failing: []int{2},
			after:   []int{4},
			wantErr: syscall.ENOSPC, wantReason: reasonDiskFull,
			wantSegs: 2,
			// Half a record 2 stays behind record 1, never read; a
			// restart finds it.
			wantCorrupt: true,
		},
		{
			name:   "write fails and no new segment",
			before: []int{0, 1},
			fault: func(f *faults) {
				f.writeErr = syscall.ENOSPC
				f.createErr = syscall.ENOSPC
			},
			// The second one tries to create the segment again.
			failing: []int{2, 3},
			after:   []int{4},
			wantErr: syscall.ENOSPC, wantReason: reasonDiskFull,
			wantSegs: 2,
		},
		{
			name:    "sync fails when rotating",
			before:  []int{0, 1},
			fault:   func(f *faults) { f.syncErr = syscall.EIO },
			failing: []int{2, 3},
			after:   []int{4, 5},
			segSize: recordSize(0) + recordSize(1) + 1,
			wantErr: syscall.EIO, wantReason: reasonDiskWrite,
			wantSegs: 2,
		},
		{
			name:    "segment cannot be created when rotating",
			before:  []int{0, 1},
			fault:   func(f *faults) { f.createErr = syscall.ENOSPC },
			failing: []int{2, 3},
			after:   []int{4, 5},
			segSize: recordSize(0) + recordSize(1) + 1,
			wantErr: syscall.ENOSPC, wantReason: reasonDiskFull,
			wantSegs: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fsys := &faultFS{}
			l, logs := openLoggedLog(t, dir, 1<<20, tc.segSize, fsys)
			appendRecords(t, l, tc.before...)
			// The reader is at the end of the segment written to when
			// the fault comes.
			if got, _ := readN(t, l, -1); !slices.Equal(got, tc.before) {
				t.Fatalf("read %v, want %v", got, tc.before)
			}
			fsys.set(tc.fault)
			for _, i := range tc.failing {
				_, err := l.append(testRecord(i))
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("append record %d: %v, want %v", i, err, tc.wantErr)
				}
				if got := diskDropReason(err); got != tc.wantReason {
					t.Errorf("diskDropReason(%v) = %q, want %q", err, got, tc.wantReason)
				}
				if err := l.healthy(); !errors.Is(err, tc.wantErr) {
					t.Errorf("healthy() = %v, want %v", err, tc.wantErr)
				}
				if got := testutil.ToFloat64(l.m.diskFailing); got != 1 {
					t.Errorf("queue_disk_failing = %v while failing, want 1", got)
				}
				// Reading goes on meanwhile.
				if got, _ := readN(t, l, -1); len(got) != 0 {
					t.Errorf("read %v after a failed append, want nothing", got)
				}
			}
			checkUnread(t, l, 0)
			if !strings.Contains(logs.String(), "remote write disk queue failing") {
				t.Errorf("nothing logged while failing:\n%s", logs)
			}
			fsys.set(func(f *faults) { *f = faults{} })
			appendRecords(t, l, tc.after...)
			if err := l.healthy(); err != nil {
				t.Errorf("healthy() = %v after the fault, want nil", err)
			}
			if got := testutil.ToFloat64(l.m.diskFailing); got != 0 {
				t.Errorf("queue_disk_failing = %v after the fault, want 0", got)
			}
			if got, _ := readN(t, l, -1); !slices.Equal(got, tc.after) {
				t.Errorf("read %v after the fault, want %v", got, tc.after)
			}
			checkUnread(t, l, 0)
			if n := len(segments(t, dir)); n != tc.wantSegs {
				t.Errorf("%d segments, want %d", n, tc.wantSegs)
			}
			// Nothing was committed: a restart reads it all again, and
			// nothing of the failed records.
			if err := l.close(); err != nil {
				t.Fatal(err)
			}
			l2 := openTestLog(t, dir, 1<<20, tc.segSize)
			want := slices.Concat(tc.before, tc.after)
			checkUnread(t, l2, samplesOf(want...))
			if got, _ := readN(t, l2, -1); !slices.Equal(got, want) {
				t.Errorf("read %v after a restart, want %v", got, want)
			}
			if got := testutil.ToFloat64(l2.m.diskCorruptions) == 1; got != tc.wantCorrupt {
				t.Errorf("restart found a corrupt segment: %v, want %v", got, tc.wantCorrupt)
			}
		})
	}
}

// TestDiskLogReadFault: a failed read skips nothing and is read again.
func TestDiskLogReadFault(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l, _ := openLoggedLog(t, dir, 1<<20, 0, fsys)
	appendRecords(t, l, 0, 1, 2)
	readN(t, l, 1)
	fsys.set(func(f *faults) { f.readErr = syscall.EIO })
	// Reopened too: a read error closes the reader.
	l.rewind()
	for range 2 {
		_, _, ok, err := l.next()
		if !errors.Is(err, syscall.EIO) || ok {
			t.Fatalf("next() = %v, %v with a read fault, want %v", ok, err, syscall.EIO)
		}
		var ce *corruptError
		if errors.As(err, &ce) {
			t.Errorf("read fault taken for corruption: %v", err)
		}
		if got := testutil.ToFloat64(l.m.diskFailing); got != 1 {
			t.Errorf("queue_disk_failing = %v while failing, want 1", got)
		}
		if err := l.healthy(); !errors.Is(err, syscall.EIO) {
			t.Errorf("healthy() = %v, want %v", err, syscall.EIO)
		}
	}
	checkUnread(t, l, samplesOf(0, 1, 2))
	fsys.set(func(f *faults) { *f = faults{} })
	if got, _ := readN(t, l, -1); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("read %v after the fault, want 0 1 2", got)
	}
	if err := l.healthy(); err != nil {
		t.Errorf("healthy() = %v after the fault, want nil", err)
	}
	if got := testutil.ToFloat64(l.m.diskCorruptions); got != 0 {
		t.Errorf("queue_disk_corrupt_segments_total = %v, want 0", got)
	}
}

// TestQueueReadFault: while the disk queue cannot be read the queue says
// so and keeps trying; once it can, everything is sent.
func TestQueueReadFault(t *testing.T) {
	rc := newReceiver(t)
	o := testOptions(t, rc)
	reg := o.Registerer.(*prometheus.Registry)
	q := mustQueue(t, o)
	// The same log, read through faults.
	if err := q.log.close(); err != nil {
		t.Fatal(err)
	}
	fsys := &faultFS{}
	l, err := openLogWith(o.Dir, DefaultMaxDiskBytes, logOptions{logger: o.Logger, m: q.m, now: o.Now, fs: fsys})
	if err != nil {
		t.Fatal(err)
	}
	q.log = l
	fsys.set(func(f *faults) { f.readErr = syscall.EIO })
	series := seriesSet(20)
	for ts := int64(1); ts <= 3; ts++ {
		q.Append(cycle(series, ts))
	}
	stop := run(t, q)
	waitFor(t, "the queue failing", func() bool { return q.DiskHealthy() != nil })
	if err := q.DiskHealthy(); !errors.Is(err, syscall.EIO) {
		t.Errorf("DiskHealthy() = %v, want %v", err, syscall.EIO)
	}
	if got, ok := gathered(t, reg, "pushgateway_bridge_remote_write_queue_disk_failing"); !ok || got != 1 {
		t.Errorf("queue_disk_failing = %v (found: %v) while reads fail, want 1", got, ok)
	}
	// Retried, not given up.
	time.Sleep(1500 * time.Millisecond)
	if n := rc.requests(); n != 0 {
		t.Errorf("%d requests while nothing could be read", n)
	}
	fsys.set(func(f *faults) { *f = faults{} })
	waitFor(t, "everything delivered", func() bool { return rc.deliveredSamples() == 3*len(series) })
	checkDelivered(t, rc.deliveredTimestamps(), len(series), []int64{1, 2, 3}, false)
	if err := q.DiskHealthy(); err != nil {
		t.Errorf("DiskHealthy() = %v after the fault, want nil", err)
	}
	if got, _ := gathered(t, reg, "pushgateway_bridge_remote_write_queue_disk_failing"); got != 0 {
		t.Errorf("queue_disk_failing = %v after the fault, want 0", got)
	}
	stop()
	if err := q.Flush(context.Background()); err != nil {
		t.Errorf("Flush: %v", err)
	}
}
