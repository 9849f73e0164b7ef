package calib

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// keyStore holds an accumulator's candidate keys: the kept set (at most
// keep keys, the largest seen so far) and a buffer of new candidates.
//
// The kept set is stored sorted in descending order, delta-encoded as
// unsigned varints in fixed-size slots of a slotArena: the largest 0.1 %
// of a tensor's values lie close together, so a key costs one or two
// bytes instead of four. This is the memory that grows with the number of
// calibration samples (issue #4 asks for a peak RSS at 64 samples within
// 10 % of the one at 8), so it is worth the encoding.
//
// A slot holds: u16 key count, u32 first key, then the differences to the
// previous key as uvarints.
type keyStore struct {
	arena  slotArena
	blocks []int32  // slots of the kept keys, in descending key order
	n      int      // number of kept keys
	buf    []uint32 // new candidates, unsorted; cap(buf) is the room
}

const (
	slotSize    = 4096
	slotHeader  = 6
	maxSlotKeys = 1 + (slotSize - slotHeader) // every delta takes at least one byte
)

// worstSlots is the number of slots n keys can need (five bytes per delta).
func worstSlots(n int) int {
	per := 1 + (slotSize-slotHeader)/binary.MaxVarintLen32
	return (n+per-1)/per + 2
}

// init prepares the store of an accumulator keeping keep keys with room
// for the given number of new candidates between two compactions.
func (s *keyStore) init(owner *accum, keep, room int) {
	s.buf = allocKeys(owner, room)
	// The merge of a compaction may hold the room's keys in new slots
	// before it has released old ones.
	s.arena.reserve(owner, worstSlots(keep+room))
}

// max returns the largest kept key (the store must not be empty).
func (s *keyStore) max() uint32 {
	return binary.LittleEndian.Uint32(s.arena.slot(s.blocks[0])[2:])
}

// forEach calls fn with the kept keys in descending order, a slot's worth
// at a time (fn must not keep the slice).
func (s *keyStore) forEach(fn func([]uint32)) {
	dec := make([]uint32, 0, maxSlotKeys)
	for _, id := range s.blocks {
		fn(decodeSlot(s.arena.slot(id), dec[:0]))
	}
}

// compact merges the buffered candidates into the kept set, keeping the
// largest keep keys, and returns the number kept and the smallest of them.
func (s *keyStore) compact(keep int) (n int, min uint32) {
	if len(s.buf) == 0 {
		if s.n == 0 {
			return 0, 0
		}
		return s.n, s.last()
	}
	slices.Sort(s.buf) // ascending: merged from the end
	w := slotWriter{arena: &s.arena, cur: make([]byte, slotSize)}
	dec := make([]uint32, 0, maxSlotKeys)
	var cur []uint32
	old, oi, ci, bi := s.blocks, 0, 0, len(s.buf)-1
	for w.total < keep {
		if ci == len(cur) && oi < len(old) {
			// Decode a whole slot before releasing it: the writer may
			// reuse it at once. Every slot holds at least one key.
			cur, ci = decodeSlot(s.arena.slot(old[oi]), dec[:0]), 0
			s.arena.release(old[oi])
			oi++
		}
		haveOld, haveNew := ci < len(cur), bi >= 0
		switch {
		case haveOld && (!haveNew || cur[ci] >= s.buf[bi]):
			w.put(cur[ci])
			ci++
		case haveNew:
			w.put(s.buf[bi])
			bi--
		}
		if !haveOld && !haveNew {
			break
		}
	}
	for ; oi < len(old); oi++ {
		s.arena.release(old[oi])
	}
	w.flush()
	s.blocks, s.n = w.out, w.total
	s.buf = s.buf[:0]
	return s.n, w.prev
}

// last returns the smallest kept key (the store must not be empty).
func (s *keyStore) last() uint32 {
	dec := decodeSlot(s.arena.slot(s.blocks[len(s.blocks)-1]), make([]uint32, 0, maxSlotKeys))
	return dec[len(dec)-1]
}

// slotWriter encodes a descending key sequence into new slots.
type slotWriter struct {
	arena *slotArena
	out   []int32
	cur   []byte // the slot being filled
	pos   int
	count int
	prev  uint32
	total int
}

func (w *slotWriter) put(k uint32) {
	w.total++
	if w.count > 0 && w.pos+binary.MaxVarintLen32 <= slotSize {
		w.pos += binary.PutUvarint(w.cur[w.pos:], uint64(w.prev-k))
		w.count++
		w.prev = k
		return
	}
	w.flush()
	binary.LittleEndian.PutUint32(w.cur[2:], k)
	w.pos, w.count, w.prev = slotHeader, 1, k
}

func (w *slotWriter) flush() {
	if w.count == 0 {
		return
	}
	binary.LittleEndian.PutUint16(w.cur, uint16(w.count))
	id := w.arena.alloc()
	copy(w.arena.slot(id), w.cur[:w.pos])
	w.out = append(w.out, id)
	w.count = 0
}

// decodeSlot appends a slot's keys to dst.
func decodeSlot(b []byte, dst []uint32) []uint32 {
	n := int(binary.LittleEndian.Uint16(b))
	k := binary.LittleEndian.Uint32(b[2:])
	dst = append(dst, k)
	p := slotHeader
	for i := 1; i < n; i++ {
		d, m := binary.Uvarint(b[p:])
		p += m
		k -= uint32(d)
		dst = append(dst, k)
	}
	return dst
}

// slotArena hands out fixed-size slots, always the free one with the
// lowest index, so the memory touched is the largest number of slots in
// use at once. Slots come from a reserved anonymous mapping where the
// platform has one (untouched pages cost nothing and stay outside the Go
// heap target), else from the heap.
type slotArena struct {
	mem   []byte   // reserved slots (mmap), may be nil
	slots [][]byte // every slot created so far, by index
	used  []uint64 // bitmap over slots
}

func (a *slotArena) reserve(owner *accum, n int) {
	a.mem = mapBytes(owner, n*slotSize)
}

func (a *slotArena) alloc() int32 {
	for w, u := range a.used {
		if u != ^uint64(0) {
			i := w*64 + bits.TrailingZeros64(^u)
			if i < len(a.slots) {
				a.used[w] |= 1 << (i % 64)
				return int32(i)
			}
			break
		}
	}
	i := len(a.slots)
	if (i+1)*slotSize <= len(a.mem) {
		a.slots = append(a.slots, a.mem[i*slotSize:(i+1)*slotSize:(i+1)*slotSize])
	} else {
		a.slots = append(a.slots, make([]byte, slotSize))
	}
	if i/64 == len(a.used) {
		a.used = append(a.used, 0)
	}
	a.used[i/64] |= 1 << (i % 64)
	return int32(i)
}

func (a *slotArena) release(id int32) { a.used[id/64] &^= 1 << (id % 64) }

func (a *slotArena) slot(id int32) []byte { return a.slots[id] }

// inUse returns the number of slots allocated now.
func (a *slotArena) inUse() int {
	n := 0
	for _, u := range a.used {
		n += bits.OnesCount64(u)
	}
	return n
}
