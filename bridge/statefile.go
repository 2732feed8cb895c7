package bridge

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"os"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/atomicfile"
)

// The bridge's two state files, the series state (persist.go) and the run
// state (runsfile.go), share a frame and an encoding:
//
//	a magic line naming the file and its version
//	the body: unsigned varints, zigzag varints, floats as 8 bytes little
//	  endian, strings as their length then their bytes, label sets as their
//	  number of labels then per label its name and value
//	CRC32-C of everything before, 4 bytes little endian
//
// A file is written to a temporary file, synced and renamed over the old
// one (internal/atomicfile), so a crash leaves either the old or the new
// file, never a mix; a truncated or damaged one fails its checksum.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encoder writes a state file's body.
type encoder struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
}

func (e *encoder) uvarint(v uint64) { _, _ = e.w.Write(binary.AppendUvarint(e.buf[:0], v)) }
func (e *encoder) varint(v int64)   { _, _ = e.w.Write(binary.AppendVarint(e.buf[:0], v)) }
func (e *encoder) float(v float64) {
	_, _ = e.w.Write(binary.LittleEndian.AppendUint64(e.buf[:0], math.Float64bits(v)))
}
func (e *encoder) str(v string) { e.uvarint(uint64(len(v))); _, _ = e.w.WriteString(v) }

func (e *encoder) labels(ls labels.Labels) {
	e.uvarint(uint64(ls.Len()))
	ls.Range(func(l labels.Label) { e.str(l.Name); e.str(l.Value) })
}

// writeStateFile writes magic, the body encode writes, and their checksum
// to path, atomically and synced.
func writeStateFile(path, magic string, encode func(*encoder)) error {
	return atomicfile.Write(path, true, func(f io.Writer) error {
		crc := crc32.New(castagnoli)
		e := &encoder{w: bufio.NewWriterSize(io.MultiWriter(f, crc), 64<<10)}
		_, _ = e.w.WriteString(magic)
		encode(e)
		if err := e.w.Flush(); err != nil {
			return err
		}
		_, err := f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
		return err
	})
}

// errNotStateFile is readStateFile's error for a file that starts with
// none of the magic lines it was given.
var errNotStateFile = errors.New("not a state file")

// readStateFile reads the file at path, checks its checksum and returns
// which of magics it starts with and a decoder of its body. A missing file
// is an error that wraps os.ErrNotExist.
func readStateFile(path string, magics ...string) (string, *decoder, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	magic := ""
	for _, m := range magics {
		if len(b) >= len(m)+4 && string(b[:len(m)]) == m {
			magic = m
			break
		}
	}
	if magic == "" {
		return "", nil, errNotStateFile
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return "", nil, errors.New("checksum mismatch (truncated or corrupt)")
	}
	return magic, &decoder{r: body[len(magic):]}, nil
}

var errMalformed = errors.New("malformed")

// decoder reads a state file's body; once it found the body malformed
// (bad), it reads zeros.
type decoder struct {
	r   []byte
	bad bool
	lb  labels.ScratchBuilder
}

// end returns an error unless the body was read whole and well formed.
func (d *decoder) end() error {
	if d.bad || len(d.r) != 0 {
		return errMalformed
	}
	return nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.r)
	if n <= 0 {
		d.bad, d.r = true, nil
		return 0
	}
	d.r = d.r[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.r)
	if n <= 0 {
		d.bad, d.r = true, nil
		return 0
	}
	d.r = d.r[n:]
	return v
}

// count reads a number of items, each at least a byte long.
func (d *decoder) count() uint64 {
	n := d.uvarint()
	if n > uint64(len(d.r)) {
		d.bad, d.r = true, nil
		return 0
	}
	return n
}

func (d *decoder) float() float64 {
	if len(d.r) < 8 {
		d.bad, d.r = true, nil
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.r))
	d.r = d.r[8:]
	return v
}

func (d *decoder) str() string {
	n := d.count()
	v := string(d.r[:n])
	d.r = d.r[n:]
	return v
}

func (d *decoder) labels() labels.Labels {
	n := d.count()
	d.lb.Reset()
	for range n {
		d.lb.Add(d.str(), d.str())
	}
	d.lb.Sort()
	return d.lb.Labels()
}
