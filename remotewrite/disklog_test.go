package remotewrite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testRecord is record i of a test: i+1 samples and a body of its own.
func testRecord(i int) *record {
	return &record{
		format:     formatV1 + byte(i%2),
		shard:      uint16(i % 3),
		shards:     3,
		appendSeq:  uint64(i + 1),
		samples:    uint32(i + 1),
		histograms: uint32(i % 2),
		highestT:   int64(i) * 1000,
		body:       bytes.Repeat([]byte(fmt.Sprintf("body %d|", i)), 8),
	}
}

// recordSize is what testRecord(i) takes on disk.
func recordSize(i int) int64 {
	return int64(recordHeaderLen + recordMetaLen + len(testRecord(i).body))
}

// samplesOf sums the samples of the test records is.
func samplesOf(is ...int) int {
	n := 0
	for _, i := range is {
		n += int(testRecord(i).samples)
	}
	return n
}

// openTestLog opens a log in dir with segments of segSize bytes (0: as
// openLog sizes them). It is closed at cleanup unless the test closed it.
func openTestLog(t *testing.T, dir string, maxBytes, segSize int64) *diskLog {
	t.Helper()
	l, _ := openLoggedLog(t, dir, maxBytes, segSize, nil)
	return l
}

// openLoggedLog is openTestLog on fsys (nil: the operating system's), with
// its own metrics (l.m) and its log lines in the buffer returned.
func openLoggedLog(t *testing.T, dir string, maxBytes, segSize int64, fsys fileSystem) (*diskLog, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	m, err := newMetrics(nil, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := openLogWith(dir, maxBytes, logOptions{
		logger: slog.New(slog.NewTextHandler(&logs, nil)),
		m:      m,
		fs:     fsys,
	})
	if err != nil {
		t.Fatalf("openLog: %v", err)
	}
	if segSize > 0 {
		l.segSize = segSize
	}
	t.Cleanup(func() { _ = l.close() })
	return l, &logs
}

// appendRecords appends the test records is and returns the samples the
// log dropped to make room.
func appendRecords(t *testing.T, l *diskLog, is ...int) int {
	t.Helper()
	dropped := 0
	for _, i := range is {
		n, err := l.append(testRecord(i))
		if err != nil {
			t.Fatalf("append record %d: %v", i, err)
		}
		dropped += n
	}
	return dropped
}

// readN reads n records (all there are if n < 0) and returns the test
// record numbers and the position after each.
func readN(t *testing.T, l *diskLog, n int) (got []int, ends []logPos) {
	t.Helper()
	for n < 0 || len(got) < n {
		r, end, ok, err := l.next()
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if !ok {
			if n >= 0 {
				t.Fatalf("log ended after %d records, want %d", len(got), n)
			}
			break
		}
		i := int(r.appendSeq) - 1
		if want := testRecord(i); r.format != want.format || r.shard != want.shard || r.shards != want.shards ||
			r.samples != want.samples || r.histograms != want.histograms || r.highestT != want.highestT ||
			!bytes.Equal(r.body, want.body) {
			t.Fatalf("record %d read back as %+v, want %+v", i, r, want)
		}
		got = append(got, i)
		ends = append(ends, end)
	}
	return got, ends
}

func checkUnread(t *testing.T, l *diskLog, want int) {
	t.Helper()
	if got := l.pendingUnread(); got != want {
		t.Errorf("pendingUnread = %d, want %d", got, want)
	}
}

func TestDiskLogRoundTrip(t *testing.T) {
	l := openTestLog(t, t.TempDir(), 1<<20, 0)
	appendRecords(t, l, 0, 1, 2)
	checkUnread(t, l, samplesOf(0, 1, 2))
	if got, want := l.size(), recordSize(0)+recordSize(1)+recordSize(2); got != want {
		t.Errorf("size = %d, want %d", got, want)
	}

	got, ends := readN(t, l, -1)
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("read %v, want 0 1 2", got)
	}
	checkUnread(t, l, 0)
	// Appends after the reader caught up are read next.
	appendRecords(t, l, 3)
	if got, _ := readN(t, l, -1); !slices.Equal(got, []int{3}) {
		t.Errorf("read %v after a later append, want 3", got)
	}
	l.commitTo(ends[2])
	l.commitTo(ends[0]) // going back is ignored
	if l.commit != ends[2] {
		t.Errorf("committed to %v, want %v", l.commit, ends[2])
	}
}

func TestDiskLogReopen(t *testing.T) {
	for _, tc := range []struct {
		name     string
		save     bool // the position was saved before the log was left
		wantRead []int
	}{
		// Acknowledged records are not read again; the one read but not
		// acknowledged is.
		{"position saved", true, []int{2, 3, 4}},
		// Killed before the position reached the disk: all again.
		{"position not saved", false, []int{0, 1, 2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, 1<<20, 0)
			appendRecords(t, l, 0, 1, 2, 3, 4)
			_, ends := readN(t, l, 3)
			l.commitTo(ends[1])
			if tc.save {
				if err := l.close(); err != nil {
					t.Fatalf("close: %v", err)
				}
			} // else the files are left open, as by kill -9

			l2 := openTestLog(t, dir, 1<<20, 0)
			checkUnread(t, l2, samplesOf(tc.wantRead...))
			if got, _ := readN(t, l2, -1); !slices.Equal(got, tc.wantRead) {
				t.Errorf("read %v after reopening, want %v", got, tc.wantRead)
			}
			if l2.lastSeq != testRecord(4).appendSeq {
				t.Errorf("lastSeq = %d, want %d", l2.lastSeq, testRecord(4).appendSeq)
			}
		})
	}
}

func TestDiskLogTruncatedTail(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, 1<<20, 0)
	appendRecords(t, l, 0, 1, 2)
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	seg := segments(t, dir)[0]
	whole := recordSize(0) + recordSize(1)
	if err := os.Truncate(seg, whole+recordSize(2)/2); err != nil {
		t.Fatal(err)
	}

	l2 := openTestLog(t, dir, 1<<20, 0)
	if fi, err := os.Stat(seg); err != nil || fi.Size() != whole {
		t.Fatalf("segment after open: %v, %v; want the torn record cut off at %d bytes", fi.Size(), err, whole)
	}
	checkUnread(t, l2, samplesOf(0, 1))
	if got, _ := readN(t, l2, -1); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("read %v, want 0 1", got)
	}
	appendRecords(t, l2, 3)
	if got, _ := readN(t, l2, -1); !slices.Equal(got, []int{3}) {
		t.Errorf("read %v after appending, want 3", got)
	}
	// Nothing was committed: a restart reads the file whole.
	if err := l2.close(); err != nil {
		t.Fatal(err)
	}
	l3 := openTestLog(t, dir, 1<<20, 0)
	if got, _ := readN(t, l3, -1); !slices.Equal(got, []int{0, 1, 3}) {
		t.Errorf("read %v after a restart, want 0 1 3", got)
	}
}

// TestDiskLogCorruptSegment damages the middle record of the first of three
// segments: what the format lets the reader find again is read, the rest of
// that segment is lost, nothing else; the corruption is logged once with its
// segment and offset, and counted.
func TestDiskLogCorruptSegment(t *testing.T) {
	for _, tc := range []struct {
		name string
		// whenRead damages the segment after the log was opened, so that
		// the reader rather than the scan at open finds it.
		whenRead bool
		// at is the byte damaged, counted from the start of record 1.
		at   int64
		want []int
		// wantDropped are the samples counted under reason corrupt: only
		// the reader knows them, from what was appended.
		wantDropped int
	}{
		{"body found at open", false, recordSize(1) / 2, []int{0, 2, 3, 4, 5, 6, 7, 8}, 0},
		{"body found when read", true, recordSize(1) / 2, []int{0, 2, 3, 4, 5, 6, 7, 8}, samplesOf(1)},
		// A bad length cannot be trusted to find the next record.
		{"length found at open", false, 3, []int{0, 3, 4, 5, 6, 7, 8}, 0},
		{"length found when read", true, 3, []int{0, 3, 4, 5, 6, 7, 8}, samplesOf(1, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// Three records a segment.
			segSize := recordSize(0) + recordSize(1) + recordSize(2) + 1
			l, logs := openLoggedLog(t, dir, 1<<20, segSize, nil)
			appendRecords(t, l, 0, 1, 2, 3, 4, 5, 6, 7, 8)
			segs := segments(t, dir)
			if len(segs) != 3 {
				t.Fatalf("%d segments, want 3", len(segs))
			}
			corrupt := func() {
				b, err := os.ReadFile(segs[0])
				if err != nil {
					t.Fatal(err)
				}
				b[recordSize(0)+tc.at] ^= 0xff
				if err := os.WriteFile(segs[0], b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.whenRead {
				corrupt()
			} else {
				if err := l.close(); err != nil {
					t.Fatal(err)
				}
				corrupt()
				l, logs = openLoggedLog(t, dir, 1<<20, segSize, nil)
				checkUnread(t, l, samplesOf(tc.want...))
			}
			if got, _ := readN(t, l, -1); !slices.Equal(got, tc.want) {
				t.Errorf("read %v, want %v", got, tc.want)
			}
			checkUnread(t, l, 0)
			appendRecords(t, l, 9)
			if got, _ := readN(t, l, -1); !slices.Equal(got, []int{9}) {
				t.Errorf("read %v after appending, want 9", got)
			}
			// Read again: not logged or counted again.
			l.rewind()
			if got, _ := readN(t, l, -1); !slices.Equal(got, append(tc.want, 9)) {
				t.Errorf("read %v after rewinding, want %v", got, append(tc.want, 9))
			}
			checkUnread(t, l, 0)
			if got := testutil.ToFloat64(l.m.diskCorruptions); got != 1 {
				t.Errorf("queue_disk_corrupt_segments_total = %v, want 1", got)
			}
			if got := testutil.ToFloat64(l.m.samplesDropped.WithLabelValues(reasonCorrupt)); got != float64(tc.wantDropped) {
				t.Errorf(`samples_dropped_total{reason="corrupt"} = %v, want %d`, got, tc.wantDropped)
			}
			wantLog := fmt.Sprintf("segment=%s offset=%d", filepath.Base(segs[0]), recordSize(0))
			if n := strings.Count(logs.String(), "corrupt"); n != 1 || !strings.Contains(logs.String(), wantLog) {
				t.Errorf("logged %d lines on corruption, want 1 with %q:\n%s", n, wantLog, logs)
			}
		})
	}
}

// TestDiskLogCorruptLastSegmentWhenRead: new records go beyond the bad
// bytes, so they are not lost with them.
func TestDiskLogCorruptLastSegmentWhenRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   int64 // from the start of record 1
		want []int
	}{
		{"body", recordSize(1) / 2, []int{0, 2}},
		{"length", 3, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, 1<<20, 0)
			appendRecords(t, l, 0, 1, 2)
			seg := segments(t, dir)[0]
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			b[recordSize(0)+tc.at] ^= 0xff
			if err := os.WriteFile(seg, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if got, _ := readN(t, l, -1); !slices.Equal(got, tc.want) {
				t.Errorf("read %v, want %v", got, tc.want)
			}
			appendRecords(t, l, 3, 4)
			if got, _ := readN(t, l, -1); !slices.Equal(got, []int{3, 4}) {
				t.Errorf("read %v after appending, want 3 4", got)
			}
			checkUnread(t, l, 0)
		})
	}
}

func TestDiskLogMaxBytes(t *testing.T) {
	dir := t.TempDir()
	// Two records a segment, four segments at most.
	segSize := 2*recordSize(19) + 1
	maxBytes := 4 * segSize
	l := openTestLog(t, dir, maxBytes, segSize)
	appendRecords(t, l, 0, 1, 2, 3)
	// Records 0 and 1 are in flight when their segment goes: not lost.
	readN(t, l, 2)

	var dropped int
	var all []int
	for i := 4; i < 20; i++ {
		dropped += appendRecords(t, l, i)
		all = append(all, i)
		if got := l.size(); got > maxBytes {
			t.Fatalf("after record %d the log holds %d bytes, bound %d", i, got, maxBytes)
		}
	}
	got, _ := readN(t, l, -1)
	if len(got) == 0 || got[len(got)-1] != 19 {
		t.Fatalf("read %v, want the newest records up to 19", got)
	}
	// Read: the newest records, in order, without a gap; dropped: the
	// unread ones before them.
	first := got[0]
	if want := append([]int{}, all[slices.Index(all, first):]...); !slices.Equal(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
	lost := []int{2, 3}
	for i := 4; i < first; i++ {
		lost = append(lost, i)
	}
	if dropped != samplesOf(lost...) {
		t.Errorf("dropped %d samples, want %d (records %v)", dropped, samplesOf(lost...), lost)
	}
	if n := len(segments(t, dir)); n > 4 {
		t.Errorf("%d segments on disk, want at most 4", n)
	}
	checkUnread(t, l, 0)
}

// TestDiskLogMaxBytesSegments checks that a small bound still gets several
// segments, so that it holds, and a big one no huge segments.
func TestDiskLogMaxBytesSegments(t *testing.T) {
	for _, tc := range []struct {
		max, wantSeg int64
	}{
		{16 << 10, 4 << 10},
		{1 << 20, 128 << 10},
		{1 << 30, 64 << 20},
	} {
		l := openTestLog(t, t.TempDir(), tc.max, 0)
		if l.segSize != tc.wantSeg {
			t.Errorf("bound %d: segments of %d bytes, want %d", tc.max, l.segSize, tc.wantSeg)
		}
	}
}

func TestDiskLogBadPosition(t *testing.T) {
	pos := func(seg, off uint64) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b[0:], seg)
		binary.LittleEndian.PutUint64(b[8:], off)
		return b
	}
	for _, tc := range []struct {
		name     string
		write    func(t *testing.T, path string)
		wantRead []int
	}{
		{"missing", func(*testing.T, string) {}, []int{0, 1, 2}},
		{"too short", writeFile([]byte{1, 2, 3}), []int{0, 1, 2}},
		{"too long", writeFile(append(pos(1, 0), 0)), []int{0, 1, 2}},
		{"beyond the last segment", writeFile(pos(99, 0)), []int{0, 1, 2}},
		{"negative offset", writeFile(pos(1, 1<<63)), []int{0, 1, 2}},
		{"inside a record", writeFile(pos(1, 5)), []int{0, 1, 2}},
		{"a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, []int{0, 1, 2}},
		{"valid", writeFile(pos(1, uint64(recordSize(0)))), []int{1, 2}},
		// The tail was lost after it was sent: nothing to read, and the
		// next append is read.
		{"beyond the end", writeFile(pos(1, uint64(recordSize(0)+recordSize(1)+recordSize(2)+10))), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, 1<<20, 0)
			appendRecords(t, l, 0, 1, 2)
			if err := l.close(); err != nil {
				t.Fatal(err)
			}
			tc.write(t, filepath.Join(dir, positionFile))

			l2 := openTestLog(t, dir, 1<<20, 0)
			checkUnread(t, l2, samplesOf(tc.wantRead...))
			if got, _ := readN(t, l2, -1); !slices.Equal(got, tc.wantRead) {
				t.Errorf("read %v, want %v", got, tc.wantRead)
			}
			appendRecords(t, l2, 3)
			if got, _ := readN(t, l2, -1); !slices.Equal(got, []int{3}) {
				t.Errorf("read %v after appending, want 3", got)
			}
		})
	}
}

func writeFile(b []byte) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDiskLogRewind(t *testing.T) {
	l := openTestLog(t, t.TempDir(), 1<<20, recordSize(0)+recordSize(1)+1)
	appendRecords(t, l, 0, 1, 2, 3, 4)
	_, ends := readN(t, l, 4)
	l.commitTo(ends[1])
	l.rewind()
	checkUnread(t, l, samplesOf(2, 3, 4))
	if got, _ := readN(t, l, -1); !slices.Equal(got, []int{2, 3, 4}) {
		t.Errorf("read %v after rewind, want 2 3 4", got)
	}
	// Twice in a row, and with nothing committed since.
	l.rewind()
	l.rewind()
	if got, _ := readN(t, l, -1); !slices.Equal(got, []int{2, 3, 4}) {
		t.Errorf("read %v after rewinding again, want 2 3 4", got)
	}
}

func TestDiskLogRotation(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, 1<<20, 3*recordSize(9))
	var want []int
	for i := range 30 {
		appendRecords(t, l, i)
		want = append(want, i)
	}
	if n := len(segments(t, dir)); n < 10 {
		t.Fatalf("%d segments for 30 records, want 10 or more", n)
	}
	got, ends := readN(t, l, -1)
	if !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	for i, end := range ends {
		l.commitTo(end)
		// Every segment wholly behind the committed position is gone,
		// the one it ends too.
		first := end.seg
		if i+1 < len(ends) && ends[i+1].seg != end.seg {
			first++
		}
		if n, max := len(segments(t, dir)), len(l.segs); n != max || l.segs[0].n != first {
			t.Fatalf("after committing record %d: %d files, %d segments from %d; want from %d", i, n, max, l.segs[0].n, first)
		}
	}
	if n := len(segments(t, dir)); n != 1 {
		t.Errorf("%d segments after committing all, want 1", n)
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, 1<<20, 0)
	checkUnread(t, l2, 0)
	if got, _ := readN(t, l2, -1); len(got) != 0 {
		t.Errorf("read %v after reopening, want nothing", got)
	}
}

// TestDiskLogCommitPastReader acknowledges the last record of a segment
// before the reader moved on to the next one: the segment goes, and the
// reader carries on with the next segment instead of waiting for good at
// a position in a deleted file (a queue that stopped sending).
func TestDiskLogCommitPastReader(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, 1<<20, 3*recordSize(9))
	for i := range 9 {
		appendRecords(t, l, i)
	}
	if len(l.segs) < 3 {
		t.Fatalf("%d segments for 9 records, want 3 or more", len(l.segs))
	}
	// Read up to the last record of the first segment, and acknowledge it.
	var got []int
	var end logPos
	for end.seg == 0 || end.off < l.segs[0].size {
		ids, ends := readN(t, l, 1)
		got, end = append(got, ids...), ends[0]
	}
	first := l.segs[0].n
	l.commitTo(end)
	if l.segs[0].n == first {
		t.Fatalf("segment %d kept after its last record was acknowledged", first)
	}
	rest, _ := readN(t, l, -1)
	if got = append(got, rest...); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("read %v, want 0 to 8", got)
	}
	checkUnread(t, l, 0)
}
