package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// bpeModel is a Hugging Face "BPE" model: vocabulary, merges by rank, and
// the options that change how a word becomes symbols.
type bpeModel struct {
	vocab     map[string]int32
	idToToken []string // "" for unused ids
	// merges maps a pair of symbol ids (left<<32 | right) to
	// rank<<32 | merged id.
	merges       map[uint64]uint64
	byteLevel    bool       // symbols start as bytes mapped through byteToRune
	byteIDs      [256]int32 // byte-level: id of each single-byte token, -1 if absent
	byteFallback bool       // unknown characters become <0xXX> byte tokens
	byteFallIDs  [256]int32
	unkID        int32 // -1 when there is no unk token
	fuseUnk      bool
	ignoreMerges bool // a word that is itself a token is emitted whole

	cache wordCache
}

// maxCachedWord bounds the byte length of cached words and cacheCapacity
// the number of entries (as in Hugging Face, which stops inserting when
// full), so memory stays bounded on arbitrary input.
const (
	maxCachedWord = 256
	cacheCapacity = 1 << 18
)

// wordCache maps a pre-token (raw text for byte-level models) to its ids.
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string][]int32, 1024)
	}
	if len(c.m) < cacheCapacity {
		c.m[strings.Clone(w)] = ids
	}
	c.mu.Unlock()
}

// symbol is one node of the doubly linked list BPE merges over.
type symbol struct {
	id         int32
	prev, next int32
	n          int32 // byte length of the symbol's text, 0 once merged away
}

// mergeItem is a candidate merge; the heap pops the lowest rank first, and
// among equal ranks the leftmost position (Hugging Face's Merge ordering).
type mergeItem struct {
	rank  uint32
	pos   int32
	newID int32
}

func itemLess(a, b mergeItem) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

// bpeScratch holds reusable buffers for one word.
type bpeScratch struct {
	syms []symbol
	heap []mergeItem
}

var scratchPool = sync.Pool{New: func() any { return &bpeScratch{} }}

func (h *bpeScratch) push(it mergeItem) {
	h.heap = append(h.heap, it)
	i := len(h.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !itemLess(h.heap[i], h.heap[p]) {
			break
		}
		h.heap[i], h.heap[p] = h.heap[p], h.heap[i]
		i = p
	}
}

func (h *bpeScratch) pop() mergeItem {
	top := h.heap[0]
	last := len(h.heap) - 1
	h.heap[0] = h.heap[last]
	h.heap = h.heap[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		m := l
		if r := l + 1; r < last && itemLess(h.heap[r], h.heap[l]) {
			m = r
		}
		if !itemLess(h.heap[m], h.heap[i]) {
			break
		}
		h.heap[i], h.heap[m] = h.heap[m], h.heap[i]
		i = m
	}
	return top
}

// mergeAll applies merges exactly as Hugging Face's Word::merge_all does
// (priority queue by rank then position, stale entries skipped), then
// appends the surviving symbol ids to dst.
func (m *bpeModel) mergeAll(sc *bpeScratch, dst []int32) []int32 {
	syms := sc.syms
	sc.heap = sc.heap[:0]
	for i := 0; i+1 < len(syms); i++ {
		if v, ok := m.merges[uint64(uint32(syms[i].id))<<32|uint64(uint32(syms[i+1].id))]; ok {
			sc.push(mergeItem{rank: uint32(v >> 32), pos: int32(i), newID: int32(uint32(v))})
		}
	}
	for len(sc.heap) > 0 {
		top := sc.pop()
		cur := &syms[top.pos]
		if cur.n == 0 || cur.next == -1 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		v, ok := m.merges[uint64(uint32(cur.id))<<32|uint64(uint32(right.id))]
		if !ok || int32(uint32(v)) != top.newID {
			continue
		}
		cur.id = top.newID
		cur.n += right.n
		cur.next = right.next
		syms[nextPos].n = 0
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			p := syms[cur.prev]
			if v, ok := m.merges[uint64(uint32(p.id))<<32|uint64(uint32(cur.id))]; ok {
				sc.push(mergeItem{rank: uint32(v >> 32), pos: cur.prev, newID: int32(uint32(v))})
			}
		}
		if cur.next >= 0 {
			nx := syms[cur.next]
			if v, ok := m.merges[uint64(uint32(cur.id))<<32|uint64(uint32(nx.id))]; ok {
				sc.push(mergeItem{rank: uint32(v >> 32), pos: top.pos, newID: int32(uint32(v))})
			}
		}
	}
	for _, s := range syms {
		if s.n != 0 {
			dst = append(dst, s.id)
		}
	}
	return dst
}

// encodeRawByteLevel tokenizes one pre-token given as raw bytes with a
// byte-level model, appending ids to dst.
func (m *bpeModel) encodeRawByteLevel(w string, dst []int) []int {
	if len(w) == 1 {
		if id := m.byteIDs[w[0]]; id >= 0 {
			return append(dst, int(id))
		}
	}
	if len(w) <= maxCachedWord {
		if ids, ok := m.cache.get(w); ok {
			for _, id := range ids {
				dst = append(dst, int(id))
			}
			return dst
		}
	}
	ids := m.wordIDs(w, true)
	if len(w) <= maxCachedWord {
		m.cache.put(w, ids)
	}
	for _, id := range ids {
		dst = append(dst, int(id))
	}
	return dst
}

// encodeWord tokenizes one pre-token already in the model's alphabet,
// appending ids to dst.
func (m *bpeModel) encodeWord(w string, dst []int) []int {
	if len(w) <= maxCachedWord {
		if ids, ok := m.cache.get(w); ok {
			for _, id := range ids {
				dst = append(dst, int(id))
			}
			return dst
		}
	}
	ids := m.wordIDs(w, false)
	if len(w) <= maxCachedWord {
		m.cache.put(w, ids)
	}
	for _, id := range ids {
		dst = append(dst, int(id))
	}
	return dst
}

// wordIDs runs BPE on one word. raw means w holds raw bytes that are mapped
// through the byte-level alphabet symbol by symbol.
func (m *bpeModel) wordIDs(w string, raw bool) []int32 {
	if m.ignoreMerges {
		key := w
		if raw {
			key = ByteLevelEncode(w)
		}
		if id, ok := m.vocab[key]; ok {
			return []int32{id}
		}
	}
	sc := scratchPool.Get().(*bpeScratch)
	defer scratchPool.Put(sc)
	syms := sc.syms[:0]
	add := func(id, n int32) {
		syms = append(syms, symbol{id: id, prev: int32(len(syms)) - 1, next: int32(len(syms)) + 1, n: n})
	}
	var out []int32
	if raw {
		for i := 0; i < len(w); i++ {
			id := m.byteIDs[w[i]]
			if id < 0 {
				// A byte-level vocabulary lacking a byte: fall back to the
				// generic path on the mapped text.
				sc.syms = syms
				return m.wordIDs(ByteLevelEncode(w), false)
			}
			add(id, 1)
		}
	} else {
		unkLen := int32(0)
		for i := 0; i < len(w); {
			_, sz := utf8.DecodeRuneInString(w[i:])
			ch := w[i : i+sz]
			if id, ok := m.vocab[ch]; ok {
				if unkLen > 0 {
					add(m.unkID, unkLen)
					unkLen = 0
				}
				add(id, int32(sz))
			} else if fb, ok := m.fallbackIDs(ch); ok {
				// Hugging Face does not flush a pending unk here either.
				for _, id := range fb[:sz] {
					add(id, 1)
				}
			} else if m.unkID >= 0 {
				if m.fuseUnk {
					unkLen += int32(sz)
				} else {
					add(m.unkID, int32(sz))
				}
			}
			// Without an unk token the character is dropped, as in
			// Hugging Face when unk_token is null.
			i += sz
		}
		if unkLen > 0 {
			add(m.unkID, unkLen)
		}
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	sc.syms = syms
	out = m.mergeAll(sc, make([]int32, 0, len(syms)))
	return out
}

// fallbackIDs returns the <0xXX> ids of ch's bytes when byte fallback is on
// and all of them exist.
func (m *bpeModel) fallbackIDs(ch string) ([4]int32, bool) {
	var ids [4]int32
	if !m.byteFallback || len(ch) > 4 {
		return ids, false
	}
	for i := 0; i < len(ch); i++ {
		id := m.byteFallIDs[ch[i]]
		if id < 0 {
			return ids, false
		}
		ids[i] = id
	}
	return ids, true
}
