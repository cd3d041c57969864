package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

const codecVersion = 1

// encodeBatch serialises a batch with its id: every envelope field, the
// attributes (nil and empty kept apart), the time with its zone, and the body.
func encodeBatch(id uint64, recs []*sdk.Record) ([]byte, error) {
	b := make([]byte, 0, 64+estimate(recs))
	b = binary.LittleEndian.AppendUint64(b, id)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		for _, s := range []string{r.ID, r.Type, r.Session, r.Server, r.Method, r.Direction, r.Status, r.Severity, r.Classification} {
			b = appendBytes(b, []byte(s))
		}
		t, err := r.Time.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("record %s: time: %w", r.ID, err)
		}
		b = appendBytes(b, t)
		if r.Attributes == nil {
			b = binary.AppendUvarint(b, 0)
		} else {
			b = binary.AppendUvarint(b, uint64(len(r.Attributes))+1)
			keys := make([]string, 0, len(r.Attributes))
			for k := range r.Attributes {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				b = appendBytes(appendBytes(b, []byte(k)), []byte(r.Attributes[k]))
			}
		}
		if r.Body == nil {
			b = binary.AppendUvarint(b, 0)
		} else {
			b = binary.AppendUvarint(b, uint64(len(r.Body))+1)
			b = append(b, r.Body...)
		}
	}
	return b, nil
}

func estimate(recs []*sdk.Record) int {
	n := 0
	for _, r := range recs {
		n += r.Size() + 32
	}
	return n
}

func appendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errCorrupt = errors.New("buffer: corrupt entry")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) str() string { return string(r.bytes(r.uvarint())) }

// entryID reads the id of an encoded batch without decoding it.
func entryID(payload []byte) (uint64, error) {
	if len(payload) < 9 {
		return 0, errCorrupt
	}
	return binary.LittleEndian.Uint64(payload), nil
}

func decodeBatch(payload []byte) (uint64, []*sdk.Record, error) {
	id, err := entryID(payload)
	if err != nil {
		return 0, nil, err
	}
	if payload[8] != codecVersion {
		return 0, nil, fmt.Errorf("buffer: entry %d: unknown format version %d", id, payload[8])
	}
	r := &reader{b: payload[9:]}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return 0, nil, errCorrupt
	}
	recs := make([]*sdk.Record, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		rec := &sdk.Record{}
		for _, p := range []*string{&rec.ID, &rec.Type, &rec.Session, &rec.Server, &rec.Method, &rec.Direction, &rec.Status, &rec.Severity, &rec.Classification} {
			*p = r.str()
		}
		if t := r.bytes(r.uvarint()); r.err == nil {
			var tm time.Time
			if err := tm.UnmarshalBinary(t); err != nil {
				return 0, nil, fmt.Errorf("buffer: entry %d: time: %w", id, err)
			}
			rec.Time = tm
		}
		if na := r.uvarint(); na > 0 {
			if na-1 > uint64(len(r.b)) {
				return 0, nil, errCorrupt
			}
			rec.Attributes = make(map[string]string, na-1)
			for j := uint64(0); j < na-1 && r.err == nil; j++ {
				k := r.str()
				rec.Attributes[k] = r.str()
			}
		}
		if nb := r.uvarint(); nb > 0 {
			if b := r.bytes(nb - 1); r.err == nil {
				rec.Body = append(make([]byte, 0, len(b)), b...) // empty stays empty, not nil
			}
		}
		recs = append(recs, rec)
	}
	if r.err != nil {
		return 0, nil, fmt.Errorf("buffer: entry %d: %w", id, r.err)
	}
	return id, recs, nil
}
