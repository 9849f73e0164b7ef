package calib

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
)

// Statistics files (checkpoints and shard results) are little-endian:
//
//	magic "QNNKSTAT", u32 version (1)
//	meta: string plan, i64 total, from, to, next
//	u8 absmax, u32 layer count
//	per layer: string name; per direction (input, output):
//	    i64 planned, added, nan, +inf, −inf
//	    255 × i64 exponent-bucket sums, 255 × (u64 hi, u64 lo) square sums
//	    u8 full, u32 threshold key, u64 key count, keys (u32 each)
//	sha256 of everything above (32 bytes)
//
// Strings are a u32 byte length followed by the bytes.
const (
	statsMagic   = "QNNKSTAT"
	statsVersion = 1
)

// Meta places a statistics file in a profiling run.
type Meta struct {
	// Plan fingerprints the run (model, rotation, options and the sample
	// plan). Resuming and merging require equal plans.
	Plan string
	// Total is the number of samples of the whole run.
	Total int
	// From and To delimit this file's samples [From, To) (a shard).
	From, To int
	// Next is the first sample not yet recorded (From ≤ Next ≤ To).
	Next int
}

// Complete reports whether the file's whole sample range was recorded.
func (m Meta) Complete() bool { return m.Next == m.To }

// WriteStats serializes s with its meta data.
func WriteStats(w io.Writer, s *Stats, m Meta) error {
	if m.From < 0 || m.From > m.Next || m.Next > m.To || m.To > m.Total {
		return fmt.Errorf("calib: bad sample range from=%d next=%d to=%d total=%d", m.From, m.Next, m.To, m.Total)
	}
	h := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(w, h))
	le := binary.LittleEndian
	var err error
	put := func(v any) {
		if err == nil {
			err = binary.Write(bw, le, v)
		}
	}
	str := func(x string) {
		put(uint32(len(x)))
		if err == nil {
			_, err = bw.WriteString(x)
		}
	}
	bw.WriteString(statsMagic)
	put(uint32(statsVersion))
	str(m.Plan)
	put([]int64{int64(m.Total), int64(m.From), int64(m.To), int64(m.Next)})
	put(s.absmax)
	put(uint32(len(s.layers)))
	for i, l := range s.layers {
		str(l)
		for d := range 2 {
			a := s.acc[i][d]
			a.compact()
			put([]int64{a.n, a.added, a.nan, a.posInf, a.negInf})
			put(a.sum[:])
			put(a.sq[:])
			put(a.full)
			put(a.thr)
			put(uint64(a.keys.n))
			a.keys.forEach(func(ks []uint32) { put(ks) }) // one slot's keys at a time
		}
	}
	if err != nil {
		return fmt.Errorf("calib: write statistics: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("calib: write statistics: %w", err)
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("calib: write statistics: %w", err)
	}
	return nil
}

// ReadStats parses a statistics file written by WriteStats, verifying its
// checksum and consistency.
func ReadStats(r io.Reader) (*Stats, Meta, error) {
	var m Meta
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, m, err
	}
	if len(data) < len(statsMagic)+4+sha256.Size || string(data[:len(statsMagic)]) != statsMagic {
		return nil, m, fmt.Errorf("not a qnnkit statistics file")
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, m, fmt.Errorf("checksum mismatch (truncated or corrupted file)")
	}
	br := bytes.NewReader(body[len(statsMagic):])
	le := binary.LittleEndian
	var rerr error
	get := func(v any) {
		if rerr == nil {
			rerr = binary.Read(br, le, v)
		}
	}
	str := func(what string) string {
		var n uint32
		get(&n)
		if rerr != nil {
			return ""
		}
		if int64(n) > int64(br.Len()) {
			rerr = fmt.Errorf("%s: length %d exceeds the file", what, n)
			return ""
		}
		b := make([]byte, n)
		get(b)
		return string(b)
	}
	var ver uint32
	get(&ver)
	if rerr == nil && ver != statsVersion {
		return nil, m, fmt.Errorf("statistics file version %d is not supported (want %d)", ver, statsVersion)
	}
	m.Plan = str("plan")
	var rng [4]int64
	get(&rng)
	m.Total, m.From, m.To, m.Next = int(rng[0]), int(rng[1]), int(rng[2]), int(rng[3])
	s := &Stats{index: map[string]int{}}
	get(&s.absmax)
	var nl uint32
	get(&nl)
	if rerr == nil && int64(nl) > int64(br.Len()) {
		return nil, m, fmt.Errorf("layer count %d exceeds the file", nl)
	}
	for i := 0; rerr == nil && i < int(nl); i++ {
		l := str("layer name")
		if _, dup := s.index[l]; dup && rerr == nil {
			rerr = fmt.Errorf("layer %q listed twice", l)
		}
		var pair [2]*accum
		for d := 0; d < 2 && rerr == nil; d++ {
			var hdr [5]int64
			get(&hdr)
			if rerr != nil {
				break
			}
			a, err := newAccum(hdr[0])
			if err != nil {
				rerr = fmt.Errorf("layer %q %s: %w", l, Direction(d), err)
				break
			}
			a.added, a.nan, a.posInf, a.negInf = hdr[1], hdr[2], hdr[3], hdr[4]
			get(a.sum[:])
			get(a.sq[:])
			get(&a.full)
			get(&a.thr)
			var nk uint64
			get(&nk)
			if rerr != nil {
				break
			}
			if a.added < 0 || a.added > a.n || nk > uint64(a.keep) || nk > uint64(a.added) || nk*4 > uint64(br.Len()) {
				rerr = fmt.Errorf("layer %q %s: inconsistent counts (planned %d, added %d, kept %d)", l, Direction(d), a.n, a.added, nk)
				break
			}
			full, thr := a.full, a.thr
			a.full, a.thr = false, 0
			a.initKeys()
			chunk := make([]uint32, 4096)
			for left := int(nk); left > 0 && rerr == nil; left -= len(chunk) {
				chunk = chunk[:min(left, len(chunk))]
				get(chunk)
				for _, k := range chunk {
					a.push(k)
				}
			}
			a.compact()
			if rerr == nil && (a.keys.n != int(nk) || a.full != full || (full && a.thr != thr)) {
				rerr = fmt.Errorf("layer %q %s: inconsistent candidate set", l, Direction(d))
			}
			pair[d] = a
		}
		s.index[l] = i
		s.layers = append(s.layers, l)
		s.acc = append(s.acc, pair)
	}
	if rerr != nil {
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			rerr = fmt.Errorf("unexpected end of data")
		}
		return nil, m, rerr
	}
	if br.Len() != 0 {
		return nil, m, fmt.Errorf("%d bytes of trailing data", br.Len())
	}
	if m.From < 0 || m.From > m.Next || m.Next > m.To || m.To > m.Total {
		return nil, m, fmt.Errorf("bad sample range from=%d next=%d to=%d total=%d", m.From, m.Next, m.To, m.Total)
	}
	return s, m, nil
}

// SaveStats writes a statistics file atomically (a checkpoint is either the
// previous or the new one, never a partial file).
func SaveStats(path string, s *Stats, m Meta) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := WriteStats(f, s, m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}

// LoadStats reads a statistics file.
func LoadStats(path string) (*Stats, Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("calib: %w", err)
	}
	defer f.Close()
	s, m, err := ReadStats(f)
	if err != nil {
		return nil, m, fmt.Errorf("calib: %s: %w", path, err)
	}
	return s, m, nil
}

// MergeStatsFiles merges complete shard files of one plan whose sample
// ranges exactly cover the plan (in any order) and returns the combined
// statistics, whose Result equals a single run's.
func MergeStatsFiles(paths []string) (*Stats, Meta, error) {
	if len(paths) == 0 {
		return nil, Meta{}, fmt.Errorf("calib: merge: no statistics files")
	}
	type part struct {
		path string
		s    *Stats
		m    Meta
	}
	var parts []part
	for _, p := range paths {
		s, m, err := LoadStats(p)
		if err != nil {
			return nil, m, err
		}
		if !m.Complete() {
			return nil, m, fmt.Errorf("calib: merge: %s is incomplete (samples %d..%d recorded up to %d); finish it with --resume", p, m.From, m.To, m.Next)
		}
		if len(parts) > 0 && (m.Plan != parts[0].m.Plan || m.Total != parts[0].m.Total) {
			return nil, m, fmt.Errorf("calib: merge: %s belongs to another run than %s (plans differ)", p, parts[0].path)
		}
		parts = append(parts, part{p, s, m})
	}
	slices.SortStableFunc(parts, func(a, b part) int { return a.m.From - b.m.From })
	at := 0
	for _, p := range parts {
		if p.m.From != at {
			if p.m.From < at {
				return nil, Meta{}, fmt.Errorf("calib: merge: %s (samples %d..%d) overlaps another file", p.path, p.m.From, p.m.To)
			}
			return nil, Meta{}, fmt.Errorf("calib: merge: samples %d..%d are in no file", at, p.m.From)
		}
		at = p.m.To
	}
	if at != parts[0].m.Total {
		return nil, Meta{}, fmt.Errorf("calib: merge: samples %d..%d are in no file", at, parts[0].m.Total)
	}
	out := parts[0].s
	for _, p := range parts[1:] {
		if err := out.Merge(p.s); err != nil {
			return nil, Meta{}, fmt.Errorf("%s: %w", p.path, err)
		}
	}
	m := parts[0].m
	m.From, m.To, m.Next = 0, m.Total, m.Total
	return out, m, nil
}
