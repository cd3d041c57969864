package sdk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// The records of a batch cross the wire as one compact blob rather than as
// repeated protobuf messages: decoding then costs one allocation per batch
// (plus attribute maps) instead of a dozen per record, and strings and
// bodies point into the received buffer. That is most of what one
// out-of-process hop costs. Layout, per record:
//
//	uvarint len + bytes, for: id, type, session, server, method, direction,
//	                          status, severity, classification
//	varint time (unix nanoseconds)
//	uvarint attribute count, then uvarint len + bytes for each key and value
//	uvarint len + body bytes
const recordStrings = 9

// appendRecords encodes recs onto buf.
func appendRecords(buf []byte, recs []*Record) []byte {
	for _, r := range recs {
		for _, s := range [recordStrings]string{r.ID, r.Type, r.Session, r.Server, r.Method, r.Direction, r.Status, r.Severity, r.Classification} {
			buf = binary.AppendUvarint(buf, uint64(len(s)))
			buf = append(buf, s...)
		}
		buf = binary.AppendVarint(buf, r.Time.UnixNano())
		buf = binary.AppendUvarint(buf, uint64(len(r.Attributes)))
		for k, v := range r.Attributes {
			buf = binary.AppendUvarint(buf, uint64(len(k)))
			buf = append(buf, k...)
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			buf = append(buf, v...)
		}
		buf = binary.AppendUvarint(buf, uint64(len(r.Body)))
		buf = append(buf, r.Body...)
	}
	return buf
}

var errCorrupt = errors.New("corrupt record encoding")

// decodeRecords reads count records from buf. The records' strings and
// bodies share buf's memory, which must not be modified afterwards.
func decodeRecords(buf []byte, count int) ([]*Record, error) {
	recs := make([]Record, count)
	out := make([]*Record, count)
	d := decoder{buf: buf}
	for i := range recs {
		r := &recs[i]
		for _, dst := range [recordStrings]*string{&r.ID, &r.Type, &r.Session, &r.Server, &r.Method, &r.Direction, &r.Status, &r.Severity, &r.Classification} {
			*dst = d.str()
		}
		r.Time = time.Unix(0, d.varint()).UTC()
		if n := d.uvarint(); n > 0 {
			if n > uint64(len(d.buf)) {
				return nil, errCorrupt
			}
			r.Attributes = make(map[string]string, n)
			for j := uint64(0); j < n; j++ {
				k := d.str()
				r.Attributes[k] = d.str()
			}
		}
		if b := d.bytes(); len(b) > 0 {
			r.Body = b
		}
		if d.err != nil {
			return nil, fmt.Errorf("record %d: %w", i, d.err)
		}
		out[i] = r
	}
	if len(d.buf) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.buf))
	}
	return out, nil
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) str() string {
	b := d.bytes()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.buf = nil
}
