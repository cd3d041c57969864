package flbmsgpack

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// The encoder writes chunks the way Fluent Bit does. The tests, the C
// harness's fixtures and the benchmarks use it to produce real input.

// TimeForm is how an event's timestamp is encoded.
type TimeForm int

const (
	TimeEventTime TimeForm = iota // ext type 0, seconds + nanoseconds (Fluent Bit's default)
	TimeInt                       // integer seconds
	TimeFloat                     // float64 seconds
)

// AppendEvent appends one event. With v2 set it uses the Fluent Bit 2.1+
// layout [[ts, meta], record] (meta may be nil: an empty map); record is a
// JSON object, converted with its key order kept.
func AppendEvent(dst []byte, t time.Time, form TimeForm, v2 bool, meta, record []byte) ([]byte, error) {
	dst = AppendArrayHeader(dst, 2)
	if v2 {
		dst = AppendArrayHeader(dst, 2)
	}
	dst = AppendTime(dst, t, form)
	if v2 {
		if meta == nil {
			meta = []byte("{}")
		}
		var err error
		if dst, err = AppendJSON(dst, meta); err != nil {
			return dst, fmt.Errorf("metadata: %w", err)
		}
	}
	return AppendJSON(dst, record)
}

// AppendTime appends a timestamp in the given form.
func AppendTime(dst []byte, t time.Time, form TimeForm) []byte {
	switch form {
	case TimeInt:
		return AppendInt(dst, t.Unix())
	case TimeFloat:
		return AppendFloat(dst, float64(t.Unix())+float64(t.Nanosecond())/1e9)
	}
	dst = append(dst, 0xd7, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
}

// AppendGroupMarker appends a Fluent Bit 2.1+ group start (-1) or end (-2) event.
func AppendGroupMarker(dst []byte, marker int64) []byte {
	dst = AppendArrayHeader(dst, 2)
	dst = AppendArrayHeader(dst, 2)
	dst = AppendInt(dst, marker)
	dst = AppendMapHeader(dst, 0)
	return AppendMapHeader(dst, 0)
}

func AppendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
}

func AppendMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
}

func AppendString(dst []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

func AppendBin(dst []byte, b []byte) []byte {
	n := len(b)
	switch {
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, b...)
}

func AppendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 0x7f:
		return append(dst, byte(v))
	case v < 0 && v >= -32:
		return append(dst, byte(int8(v)))
	case v >= 0:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), uint64(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
}

func AppendFloat(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(f))
}

func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 0xc3)
	}
	return append(dst, 0xc2)
}

func AppendNil(dst []byte) []byte { return append(dst, 0xc0) }

// AppendJSON converts one JSON value to msgpack, keeping object key order:
// what Fluent Bit's json parser does with a log line. Whole numbers become
// integers, other numbers floats.
func AppendJSON(dst, js []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	v, err := readNode(dec)
	if err != nil {
		return dst, err
	}
	return v.append(dst), nil
}

// node is a JSON value with object keys in their order.
type node struct {
	scalar any
	keys   []string
	items  []node
	kind   byte // 's'calar, 'a'rray, 'o'bject
}

func readNode(dec *json.Decoder) (node, error) {
	tok, err := dec.Token()
	if err != nil {
		return node{}, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := node{kind: 'a'}
		if t == '{' {
			n.kind = 'o'
		}
		for dec.More() {
			if n.kind == 'o' {
				k, err := dec.Token()
				if err != nil {
					return n, err
				}
				n.keys = append(n.keys, k.(string))
			}
			item, err := readNode(dec)
			if err != nil {
				return n, err
			}
			n.items = append(n.items, item)
		}
		_, err := dec.Token() // closing delimiter
		return n, err
	default:
		return node{kind: 's', scalar: t}, nil
	}
}

func (n node) append(dst []byte) []byte {
	switch n.kind {
	case 'a':
		dst = AppendArrayHeader(dst, len(n.items))
		for _, it := range n.items {
			dst = it.append(dst)
		}
		return dst
	case 'o':
		dst = AppendMapHeader(dst, len(n.items))
		for i, it := range n.items {
			dst = AppendString(dst, n.keys[i])
			dst = it.append(dst)
		}
		return dst
	}
	switch v := n.scalar.(type) {
	case nil:
		return AppendNil(dst)
	case bool:
		return AppendBool(dst, v)
	case string:
		return AppendString(dst, v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return AppendInt(dst, i)
		}
		f, _ := v.Float64()
		return AppendFloat(dst, f)
	}
	return AppendNil(dst)
}
