package remotewrite

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/atomicfile"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// record is one encoded request waiting in the log: a remote-write body and
// what is needed to send it in order and to account for it.
type record struct {
	format     byte   // formatV1 or formatV2: how body is encoded
	shard      uint16 // shard of every series in the body
	shards     uint16 // how many shards the series were spread over
	appendSeq  uint64 // the Append call the samples came from
	samples    uint32 // all samples, histograms included
	histograms uint32
	highestT   int64
	body       []byte // snappy-compressed protobuf
	// stale tells that body may hold staleness markers. Not stored: the
	// records of segments found at open may hold some.
	stale bool
}

// Body formats.
const (
	formatV1 byte = 1
	formatV2 byte = 2
)

const (
	recordHeaderLen = 4 + 4                     // payload length, CRC32-C of the payload
	recordMetaLen   = 1 + 2 + 2 + 8 + 4 + 4 + 8 // the record fields before body
	// maxRecordLen bounds what a corrupt length field can make us allocate.
	maxRecordLen  = 256 << 20
	segmentSuffix = ".seg"
	positionFile  = "position"
	// Segments are an eighth of the bound, so that dropping the oldest
	// loses little; within these limits. The lower one stays far below
	// any sensible bound, or the bound would not hold.
	minSegmentSize = 4 << 10
	maxSegmentSize = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logPos is a place in the log: a segment and a byte offset in it.
type logPos struct {
	seg int
	off int64
}

func (p logPos) less(q logPos) bool {
	return p.seg < q.seg || (p.seg == q.seg && p.off < q.off)
}

// segment is one file of the log.
type segment struct {
	n       int   // number in the file name; ascending
	size    int64 // bytes
	samples int   // samples in all its records
	read    int   // samples in records already handed to the reader
	// lossy is set when the reader skipped records of the segment: at its
	// end, the samples appended and not read were lost to corruption.
	lossy bool
	// reported is set once its corruption was logged and counted.
	reported bool
	// stale tells that its records may hold staleness markers: one
	// appended did, or it was found at open.
	stale bool
}

// segmentFile is a segment open for appending. *os.File is one.
type segmentFile interface {
	io.Writer
	// Truncate cuts the file to size bytes.
	Truncate(size int64) error
	Sync() error
	Close() error
}

// fileSystem opens segments: the operating system's (osFS), or in tests one
// that injects faults. The log calls it, and the files it returns, with its
// mutex held or before it is shared: implementations need not be safe for
// concurrent use. The caller closes what it opens.
type fileSystem interface {
	// openAppend opens a segment to append to, creating it if need be.
	openAppend(name string) (segmentFile, error)
	// open opens a segment to read.
	open(name string) (io.ReadSeekCloser, error)
}

// osFS is the operating system's file system.
type osFS struct{}

var (
	_ fileSystem  = osFS{}
	_ segmentFile = (*os.File)(nil)
)

func (osFS) openAppend(name string) (segmentFile, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) open(name string) (io.ReadSeekCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// logOptions are what a log reports through, and the file system it uses.
type logOptions struct {
	logger *slog.Logger     // nil: discard
	m      *metrics         // nil: unregistered metrics
	now    func() time.Time // for throttling log lines; nil: time.Now
	fs     fileSystem       // nil: osFS
	// rescue keeps the staleness markers of dropped records; nil drops
	// them with the rest.
	rescue rescuer
}

// diskLog is an append-only log of records in numbered segment files under
// one directory, bounded in bytes. The reader reads records in order; what
// it has sent is committed, persisted in a position file, and whole segments
// behind the committed position are deleted. When an append would exceed the
// bound, the oldest segments are deleted, read or not, and the samples lost
// are reported; with a rescuer, the staleness markers of their unread records
// are appended again first (see rescuer).
//
// Appends are written without fsync: they survive the process being killed
// (the kernel has them), and a torn record at the tail after a machine crash
// is detected by its checksum and cut off at open.
//
// A failed append (a full disk, an I/O error) is returned to the caller and
// leaves the log as it was: what reached the file of the record is cut off
// again, and appending goes on in a new segment, so that the full one can be
// deleted once it is sent and free its space. A failed read is returned and
// skips nothing: the next call reads again. Either way the log says it is
// failing (healthy, the queue_disk_failing gauge, a throttled log line)
// until an append or read succeeds. Corrupt records are skipped, logged and
// counted once per segment, with the samples lost where they are known.
//
// Safe for concurrent use by one appender and one reader.
type diskLog struct {
	dir     string
	max     int64
	segSize int64
	fs      fileSystem
	logger  *slog.Logger
	m       *metrics
	now     func() time.Time
	rescue  rescuer

	mu   sync.Mutex
	segs []*segment // ascending; the last one is written to
	// w is open on the last segment; nil after a failed write, until the
	// next append opens a new segment.
	w       segmentFile
	total   int64  // bytes in all segments
	readPos logPos // next record to hand out
	commit  logPos // everything before it is acknowledged or dropped
	r       io.ReadSeekCloser
	rbuf    *bufio.Reader
	rseg    int // segment r is open on, -1 if none
	roff    int64
	unread  int           // samples appended but not yet read
	notify  chan struct{} // signalled after an append
	hdrBuf  [recordHeaderLen + recordMetaLen]byte
	dirty   bool   // commit moved since the last savePosition
	lastSeq uint64 // highest appendSeq of the records found at open

	// werr and rerr are the errors of the last append and read, nil once
	// one succeeds; failLog and recoverLog throttle the lines saying so.
	werr, rerr          error
	failLog, recoverLog throttle
}

// openLog opens or creates the log in dir, reporting to nowhere. A truncated
// or corrupt tail is cut off; an unreadable position file restarts reading
// at the oldest segment.
func openLog(dir string, maxBytes int64) (*diskLog, error) {
	return openLogWith(dir, maxBytes, logOptions{})
}

// openLogWith is openLog reporting through o.
func openLogWith(dir string, maxBytes int64, o logOptions) (*diskLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create queue directory: %w", err)
	}
	l := &diskLog{
		dir:        dir,
		max:        maxBytes,
		segSize:    min(max(maxBytes/8, minSegmentSize), maxSegmentSize),
		fs:         o.fs,
		logger:     o.logger,
		m:          o.m,
		now:        o.now,
		rescue:     o.rescue,
		rseg:       -1,
		notify:     make(chan struct{}, 1),
		failLog:    throttle{interval: logInterval},
		recoverLog: throttle{interval: logInterval},
	}
	if l.fs == nil {
		l.fs = osFS{}
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.m == nil {
		m, err := newMetrics(nil, "", "")
		if err != nil {
			return nil, err
		}
		l.m = m
	}
	if l.now == nil {
		l.now = time.Now
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read queue directory: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		l.segs = append(l.segs, &segment{n: n, stale: true})
	}
	slices.SortFunc(l.segs, func(a, b *segment) int { return a.n - b.n })
	l.commit = l.loadPosition()
	for i, s := range l.segs {
		if err := l.scan(s, i == len(l.segs)-1); err != nil {
			return nil, err
		}
		l.total += s.size
	}
	if len(l.segs) == 0 {
		l.segs = append(l.segs, &segment{n: 1})
	}
	first := l.segs[0]
	switch s := l.segment(l.commit.seg); {
	case l.commit.seg < first.n:
		// The segments it points into were deleted after it was saved.
		l.commit = logPos{seg: first.n}
	case s == nil || l.commit.off < 0:
		// Garbage: start from the oldest segment; sending some records
		// twice beats losing them.
		l.commit = logPos{seg: first.n}
	case l.commit.off > s.size:
		// The segment's tail was lost (a machine crash before it reached
		// the disk) after it had been sent.
		l.commit.off = s.size
	}
	if s := l.segment(l.commit.seg); s != nil && l.commit.off > 0 {
		_, exact, err := l.samplesBefore(s, l.commit.off)
		if err != nil {
			return nil, err
		}
		if !exact {
			// Not where a record starts: garbage, as above.
			l.commit = logPos{seg: first.n}
		}
	}
	// Samples before the committed position count as read.
	for _, s := range l.segs {
		switch {
		case s.n < l.commit.seg:
			s.read = s.samples
		case s.n == l.commit.seg:
			n, _, err := l.samplesBefore(s, l.commit.off)
			if err != nil {
				return nil, err
			}
			s.read = n
		}
		l.unread += s.samples - s.read
	}
	l.readPos = l.commit
	last := l.segs[len(l.segs)-1]
	l.w, err = l.fs.openAppend(l.segPath(last.n))
	if err != nil {
		return nil, fmt.Errorf("open queue segment: %w", err)
	}
	return l, nil
}

func (l *diskLog) segPath(n int) string {
	return filepath.Join(l.dir, fmt.Sprintf("%08d%s", n, segmentSuffix))
}

// scan reads a segment at open to count its bytes and samples. A bad record
// ends the segment there; in the last segment the bad tail is cut off, in an
// older one the rest of it is skipped.
func (l *diskLog) scan(s *segment, last bool) error {
	f, err := l.fs.open(l.segPath(s.n))
	if err != nil {
		return fmt.Errorf("open queue segment: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var off int64
	for {
		rec, n, err := readRecord(br, nil)
		if errors.Is(err, io.EOF) {
			break
		}
		var ce *corruptError
		if errors.As(err, &ce) {
			l.reportCorruptLocked(s, off, err)
			if ce.skip > 0 {
				off += ce.skip
				continue
			}
			if last {
				if terr := os.Truncate(l.segPath(s.n), off); terr != nil {
					return fmt.Errorf("cut corrupt queue tail: %w", terr)
				}
			}
			break
		}
		if err != nil {
			// Not the data but the disk: better not to start than to
			// cut off or skip what may be readable later.
			return fmt.Errorf("read queue segment %s: %w", filepath.Base(l.segPath(s.n)), err)
		}
		off += n
		s.samples += int(rec.samples)
		l.lastSeq = max(l.lastSeq, rec.appendSeq)
	}
	s.size = off
	return nil
}

// samplesBefore counts the samples in the records of s before offset off,
// and tells whether off is where a record starts (or the end).
func (l *diskLog) samplesBefore(s *segment, off int64) (samples int, exact bool, err error) {
	if off == 0 {
		return 0, true, nil
	}
	f, err := l.fs.open(l.segPath(s.n))
	if err != nil {
		return 0, false, fmt.Errorf("open queue segment: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var pos int64
	for pos < off {
		rec, n, err := readRecord(br, nil)
		if ce := (*corruptError)(nil); errors.As(err, &ce) && ce.skip > 0 {
			// Skipped by the reader too (see next).
			pos += ce.skip
			continue
		}
		if err != nil {
			break
		}
		pos += n
		samples += int(rec.samples)
	}
	return samples, pos == off, nil
}

// append writes a record. It returns the samples of older records that had to
// be deleted, unsent, to keep the log within its bound: with a rescuer, but
// for their staleness markers, which are appended again, in a record of their
// own, before r. After an error the record is not in the log, and the log is
// as it was before: the next append may succeed (see diskDropReason for how
// to count the record).
func (l *diskLog) append(r *record) (dropped int, err error) {
	size := onDiskSize(r)

	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() { l.setHealthLocked(&l.werr, err) }()
	if l.w == nil {
		// The last write failed: go on in a new segment.
		if err := l.newSegmentLocked(); err != nil {
			return 0, err
		}
	}
	// A full last segment is rotated first, so that it can be dropped.
	if last := l.segs[len(l.segs)-1]; last.size > 0 && last.size+size > l.segSize {
		if err := l.rotateLocked(); err != nil {
			return 0, err
		}
	}
	var (
		markers []pipeline.Sample
		rescued *record
	)
	for {
		need := size
		if rescued != nil {
			need += onDiskSize(rescued)
		}
		if l.total+need <= l.max || len(l.segs) <= 1 {
			break
		}
		var lost int
		lost, markers = l.dropOldestLocked(markers)
		dropped += lost
		if l.rescue != nil && len(markers) > 0 {
			rescued = l.rescue.record(markers)
		}
	}
	if rescued != nil {
		if err := l.writeLocked(rescued); err != nil {
			return dropped, err
		}
		dropped -= int(rescued.samples)
	}
	return dropped, l.writeLocked(r)
}

// onDiskSize is the bytes r takes in a segment.
func onDiskSize(r *record) int64 {
	return int64(recordHeaderLen + recordMetaLen + len(r.body))
}

// writeLocked writes r at the end of the log: in a new segment if the last
// one is full, or if the last write failed.
func (l *diskLog) writeLocked(r *record) error {
	if l.w == nil {
		if err := l.newSegmentLocked(); err != nil {
			return err
		}
	}
	size := onDiskSize(r)
	last := l.segs[len(l.segs)-1]
	if last.size > 0 && last.size+size > l.segSize {
		if err := l.rotateLocked(); err != nil {
			return err
		}
		last = l.segs[len(l.segs)-1]
	}
	payload := size - recordHeaderLen
	h := l.hdrBuf[:]
	binary.LittleEndian.PutUint32(h[0:], uint32(payload))
	m := h[recordHeaderLen:]
	m[0] = r.format
	binary.LittleEndian.PutUint16(m[1:], r.shard)
	binary.LittleEndian.PutUint16(m[3:], r.shards)
	binary.LittleEndian.PutUint64(m[5:], r.appendSeq)
	binary.LittleEndian.PutUint32(m[13:], r.samples)
	binary.LittleEndian.PutUint32(m[17:], r.histograms)
	binary.LittleEndian.PutUint64(m[21:], uint64(r.highestT))
	crc := crc32.Update(crc32.Checksum(m, castagnoli), castagnoli, r.body)
	binary.LittleEndian.PutUint32(h[4:], crc)
	// Straight to the kernel, unbuffered: a kill -9 must not lose the
	// record, and a failed write must not linger in a buffer.
	_, err := l.w.Write(h)
	if err == nil {
		_, err = l.w.Write(r.body)
	}
	if err != nil {
		return l.writeFailedLocked(last, err)
	}
	last.size += size
	last.samples += int(r.samples)
	last.stale = last.stale || r.stale
	l.total += size
	l.unread += int(r.samples)
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return nil
}

// writeFailedLocked puts the log back as it was before a failed append to
// last and returns the append's error. Part of the record may have reached
// the file: it is cut off. Appending goes on in a new segment (now, or at
// the next append if it cannot be created now), unless last is empty: a full
// disk frees up only when a segment is deleted, which it is once sent and
// no longer the one written to.
func (l *diskLog) writeFailedLocked(last *segment, err error) error {
	err = fmt.Errorf("write queue segment %s: %w", filepath.Base(l.segPath(last.n)), err)
	terr := l.w.Truncate(last.size)
	if terr == nil && last.size == 0 {
		return err
	}
	// Best effort: the segment is left for good. Its bytes up to
	// last.size are all the reader reads of it; with terr a restart finds
	// the bad tail and cuts it off.
	_ = l.w.Sync()
	_ = l.w.Close()
	l.w = nil
	if nerr := l.newSegmentLocked(); nerr != nil {
		return errors.Join(err, nerr)
	}
	return err
}

// newSegmentLocked creates the segment after the last one and makes it the
// one written to.
func (l *diskLog) newSegmentLocked() error {
	n := l.segs[len(l.segs)-1].n + 1
	w, err := l.fs.openAppend(l.segPath(n))
	if err != nil {
		return fmt.Errorf("create queue segment: %w", err)
	}
	l.w = w
	l.segs = append(l.segs, &segment{n: n})
	return nil
}

func (l *diskLog) rotateLocked() error {
	// A full segment is synced once: it is what a machine crash would
	// otherwise lose. If that fails, the append fails, and the next one
	// tries again.
	if err := l.w.Sync(); err != nil {
		return fmt.Errorf("sync queue segment: %w", err)
	}
	// Synced: an error closing loses nothing.
	_ = l.w.Close()
	l.w = nil
	return l.newSegmentLocked()
}

// diskDropReason is the drop reason of the samples of a record that append
// failed to write: reasonDiskFull when the disk (or the quota) is full,
// reasonDiskWrite for any other error.
func diskDropReason(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return reasonDiskFull
	}
	return reasonDiskWrite
}

// setHealthLocked records err as the last error of appends (werr) or reads
// (rerr): the queue_disk_failing gauge is 1 while either is set. Turning
// failing or healthy is logged, throttled.
func (l *diskLog) setHealthLocked(last *error, err error) {
	was := l.werr != nil || l.rerr != nil
	*last = err
	is := l.werr != nil || l.rerr != nil
	if was == is && err == nil {
		return
	}
	if is {
		l.m.diskFailing.Set(1)
	} else {
		l.m.diskFailing.Set(0)
	}
	if is {
		if ok, suppressed := l.failLog.allow(l.now()); ok {
			l.logger.Error("remote write disk queue failing", "dir", l.dir, "err", err, "suppressed_logs", suppressed)
		}
	} else if ok, suppressed := l.recoverLog.allow(l.now()); ok {
		l.logger.Info("remote write disk queue works again", "dir", l.dir, "suppressed_logs", suppressed)
	}
}

// healthy returns nil while the last append and the last read succeeded,
// and otherwise their errors.
func (l *diskLog) healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.werr, l.rerr)
}

// DiskHealthy returns nil while the on-disk queue can be written and read,
// and otherwise the errors of the last failed append and read: appended
// samples are being dropped (reason disk_full or disk_write_error), or
// sending is held up. It turns nil again by itself once the disk recovers.
// For a readiness check; safe for concurrent use.
func (q *Queue) DiskHealthy() error {
	return q.log.healthy()
}

// reportCorruptLocked logs and counts corruption found in s at offset off,
// once per segment, as Prometheus' tsdb/wlog reports it.
func (l *diskLog) reportCorruptLocked(s *segment, off int64, err error) {
	if s.reported {
		return
	}
	s.reported = true
	l.m.diskCorruptions.Inc()
	l.logger.Warn("remote write disk queue segment corrupt, skipping the bad records",
		"segment", filepath.Base(l.segPath(s.n)), "offset", off, "err", err)
}

// dropOldestLocked deletes the oldest segment and returns its unread samples,
// and with a rescuer, markers with the staleness markers of its unread
// records appended.
func (l *diskLog) dropOldestLocked(markers []pipeline.Sample) (int, []pipeline.Sample) {
	s := l.segs[0]
	if l.rescue != nil && s.stale && l.readPos.seg == s.n && s.samples > s.read {
		markers = l.unreadMarkersLocked(markers, s, l.readPos.off)
	}
	l.segs = l.segs[1:]
	_ = os.Remove(l.segPath(s.n))
	l.total -= s.size
	lost := s.samples - s.read
	l.unread -= lost
	next := logPos{seg: l.segs[0].n}
	if l.readPos.less(next) {
		l.readPos = next
	}
	if l.commit.less(next) {
		l.commit = next
		l.dirty = true
	}
	if l.rseg == s.n {
		l.closeReaderLocked()
	}
	return lost, markers
}

// unreadMarkersLocked appends the staleness markers of the records of s
// from offset off on. What cannot be read is lost with the segment.
func (l *diskLog) unreadMarkersLocked(markers []pipeline.Sample, s *segment, off int64) []pipeline.Sample {
	f, err := l.fs.open(l.segPath(s.n))
	if err != nil {
		return markers
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return markers
	}
	br := bufio.NewReaderSize(f, 256<<10)
	for off < s.size {
		rec, n, err := readRecord(br, nil)
		if ce := (*corruptError)(nil); errors.As(err, &ce) && ce.skip > 0 {
			off += ce.skip
			continue
		}
		if err != nil {
			break
		}
		off += n
		markers = l.rescue.markers(markers, rec)
	}
	return markers
}

func (l *diskLog) closeReaderLocked() {
	if l.r != nil {
		_ = l.r.Close()
	}
	l.r, l.rseg = nil, -1
}

// next returns the next unread record and the position after it, or ok false
// when everything appended has been read. The record's body is its own. An
// error is a failure to read, not corrupt data: nothing was skipped, and the
// next call tries the same record again.
func (l *diskLog) next() (r *record, end logPos, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() { l.setHealthLocked(&l.rerr, err) }()
	for {
		s := l.segment(l.readPos.seg)
		if s == nil {
			return nil, logPos{}, false, nil
		}
		if l.readPos.off >= s.size {
			l.segmentReadLocked(s)
			if s == l.segs[len(l.segs)-1] {
				return nil, logPos{}, false, nil
			}
			l.readPos = logPos{seg: l.readPos.seg + 1}
			continue
		}
		if l.rseg != s.n || l.roff != l.readPos.off {
			if err := l.openReaderLocked(s.n, l.readPos.off); err != nil {
				return nil, logPos{}, false, err
			}
		}
		rec, n, err := readRecord(l.rbuf, nil)
		var ce *corruptError
		if err != nil && !errors.As(err, &ce) {
			l.closeReaderLocked()
			return nil, logPos{}, false, fmt.Errorf("read queue segment %s at offset %d: %w",
				filepath.Base(l.segPath(s.n)), l.readPos.off, err)
		}
		if ce != nil {
			// Cannot happen for records this process wrote, unless the
			// disk fails. The samples lost are counted when the reader
			// reaches the end of the segment (segmentReadLocked).
			l.reportCorruptLocked(s, l.readPos.off, err)
			s.lossy = true
			if ce.skip > 0 && l.readPos.off+ce.skip <= s.size {
				// Its length looks right: skip the record alone.
				l.roff += ce.skip
				l.readPos.off += ce.skip
				continue
			}
			// Skip the rest of the segment. New records go to a new
			// segment, beyond the bad bytes.
			l.closeReaderLocked()
			if s == l.segs[len(l.segs)-1] && l.w != nil {
				_ = l.w.Close()
				l.w = nil
			}
			l.total -= s.size - l.readPos.off
			s.size = l.readPos.off
			continue
		}
		l.roff += n
		l.readPos.off += n
		s.read += int(rec.samples)
		l.unread -= int(rec.samples)
		return rec, l.readPos, true, nil
	}
}

// segmentReadLocked is called when the reader is at the end of s. If it
// skipped records of s, the samples appended to s and not read were lost:
// they are counted as dropped and no longer pending.
func (l *diskLog) segmentReadLocked(s *segment) {
	if !s.lossy {
		return
	}
	s.lossy = false
	if lost := s.samples - s.read; lost > 0 {
		l.m.samplesDropped.WithLabelValues(reasonCorrupt).Add(float64(lost))
		l.unread -= lost
		s.samples = s.read
	}
}

func (l *diskLog) openReaderLocked(n int, off int64) error {
	l.closeReaderLocked()
	f, err := l.fs.open(l.segPath(n))
	if err != nil {
		return fmt.Errorf("open queue segment: %w", err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("seek queue segment: %w", err)
	}
	l.r, l.rseg, l.roff = f, n, off
	if l.rbuf == nil {
		l.rbuf = bufio.NewReaderSize(f, 256<<10)
	} else {
		l.rbuf.Reset(f)
	}
	return nil
}

func (l *diskLog) segment(n int) *segment {
	i, ok := slices.BinarySearchFunc(l.segs, n, func(s *segment, n int) int { return s.n - n })
	if !ok {
		return nil
	}
	return l.segs[i]
}

// commitTo marks everything before pos as done and deletes segments wholly
// behind it. The position file is written by savePosition.
func (l *diskLog) commitTo(pos logPos) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The end of a segment is the start of the next: then the segment can
	// go. It must, when appends fail on a full disk: deleting it is what
	// frees space, and no record may follow it in the next segment soon.
	for s := l.segment(pos.seg); s != nil && s != l.segs[len(l.segs)-1] && pos.off >= s.size; s = l.segment(pos.seg) {
		pos = logPos{seg: pos.seg + 1}
	}
	if !l.commit.less(pos) {
		return
	}
	l.commit = pos
	l.dirty = true
	for len(l.segs) > 1 && l.segs[0].n < pos.seg {
		s := l.segs[0]
		if l.rseg == s.n {
			l.closeReaderLocked()
		}
		if l.readPos.seg == s.n {
			// The reader is at the end of s (its last record, read, is
			// acknowledged) and has not moved on yet: it goes on at the
			// next segment, not at a position in a deleted file.
			l.segmentReadLocked(s)
			l.readPos = logPos{seg: l.segs[1].n}
		}
		_ = os.Remove(l.segPath(s.n))
		l.total -= s.size
		l.segs = l.segs[1:]
	}
}

// deleted tells whether the record ending at p was in a segment deleted
// since it was read.
func (l *diskLog) deleted(p logPos) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.segs) == 0 || p.seg < l.segs[0].n
}

// rewind makes the next read start again at the committed position: records
// read but not acknowledged are read again.
func (l *diskLog) rewind() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		switch {
		case s.n < l.commit.seg:
		case s.n == l.commit.seg:
			// Recount from the file: cheap, and only on reshard/restart.
			n, _, err := l.samplesBefore(s, l.commit.off)
			if err == nil {
				l.unread += s.read - n
				s.read = n
			}
		default:
			l.unread += s.read
			s.read = 0
		}
	}
	l.readPos = l.commit
	l.closeReaderLocked()
}

// pending returns the samples appended and not yet read.
func (l *diskLog) pendingUnread() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unread
}

// size returns the bytes the log holds on disk.
func (l *diskLog) size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// savePosition persists the committed position if it moved: write a temporary
// file, sync it, rename it over the old one.
func (l *diskLog) savePosition() error {
	l.mu.Lock()
	if !l.dirty {
		l.mu.Unlock()
		return nil
	}
	pos := l.commit
	l.dirty = false
	l.mu.Unlock()
	err := l.writePosition(pos)
	if err != nil {
		l.mu.Lock()
		l.dirty = true // try again next time
		l.mu.Unlock()
	}
	return err
}

func (l *diskLog) writePosition(pos logPos) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(pos.seg))
	binary.LittleEndian.PutUint64(b[8:], uint64(pos.off))
	if err := atomicfile.WriteBytes(filepath.Join(l.dir, positionFile), true, b[:]); err != nil {
		return fmt.Errorf("save queue position: %w", err)
	}
	return nil
}

func (l *diskLog) loadPosition() logPos {
	b, err := os.ReadFile(filepath.Join(l.dir, positionFile))
	if err != nil || len(b) != 16 {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Unreadable: start from the oldest segment; sending some
			// records twice beats losing them.
			return logPos{}
		}
		return logPos{}
	}
	return logPos{seg: int(binary.LittleEndian.Uint64(b[0:])), off: int64(binary.LittleEndian.Uint64(b[8:]))}
}

// close flushes, saves the position and closes the files.
func (l *diskLog) close() error {
	perr := l.savePosition()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeReaderLocked()
	var cerr error
	if l.w != nil {
		cerr = l.w.Close()
		l.w = nil
	}
	return errors.Join(perr, cerr)
}

// corruptError is a record that cannot be read because of its bytes (torn
// or damaged), not because reading failed.
type corruptError struct {
	// skip is how many bytes the record takes when its length field could
	// be read and looks right, so that the records after it can still be
	// read; 0 if not.
	skip int64
	msg  string
	err  error
}

func (e *corruptError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *corruptError) Unwrap() error { return e.err }

// readRecord reads one record. It returns io.EOF at a clean end, a
// *corruptError for a truncated or corrupt record, another error when
// reading failed, and the bytes it consumed.
func readRecord(br *bufio.Reader, _ []byte) (*record, int64, error) {
	var h [recordHeaderLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, &corruptError{msg: "truncated record header", err: err}
		}
		return nil, 0, err
	}
	n := binary.LittleEndian.Uint32(h[0:])
	if n < recordMetaLen || n > maxRecordLen {
		return nil, 0, &corruptError{msg: fmt.Sprintf("bad record length %d", n)}
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, 0, &corruptError{msg: "truncated record", err: err}
		}
		return nil, 0, err
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, 0, &corruptError{msg: "record checksum mismatch", skip: int64(recordHeaderLen) + int64(n)}
	}
	m := payload
	r := &record{
		format:     m[0],
		shard:      binary.LittleEndian.Uint16(m[1:]),
		shards:     binary.LittleEndian.Uint16(m[3:]),
		appendSeq:  binary.LittleEndian.Uint64(m[5:]),
		samples:    binary.LittleEndian.Uint32(m[13:]),
		histograms: binary.LittleEndian.Uint32(m[17:]),
		highestT:   int64(binary.LittleEndian.Uint64(m[21:])),
		body:       payload[recordMetaLen:],
	}
	return r, int64(recordHeaderLen) + int64(n), nil
}
