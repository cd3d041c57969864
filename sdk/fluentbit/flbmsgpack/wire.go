package flbmsgpack

import (
	"encoding/binary"
	"unicode/utf8"
)

// arrayHeader reads an array header at b[p]: its length and where its first element starts.
func arrayHeader(b []byte, p int) (n uint32, next int, ok bool) {
	if p >= len(b) {
		return 0, p, false
	}
	switch c := b[p]; {
	case c&0xf0 == 0x90:
		return uint32(c & 0x0f), p + 1, true
	case c == 0xdc && p+3 <= len(b):
		return uint32(binary.BigEndian.Uint16(b[p+1:])), p + 3, true
	case c == 0xdd && p+5 <= len(b):
		return binary.BigEndian.Uint32(b[p+1:]), p + 5, true
	}
	return 0, p, false
}

// mapHeader reads a map header at b[p].
func mapHeader(b []byte, p int) (n uint32, next int, ok bool) {
	if p >= len(b) {
		return 0, p, false
	}
	switch c := b[p]; {
	case c&0xf0 == 0x80:
		return uint32(c & 0x0f), p + 1, true
	case c == 0xde && p+3 <= len(b):
		return uint32(binary.BigEndian.Uint16(b[p+1:])), p + 3, true
	case c == 0xdf && p+5 <= len(b):
		return binary.BigEndian.Uint32(b[p+1:]), p + 5, true
	}
	return 0, p, false
}

// strOrBin reads a str or bin object and returns its bytes (aliasing b).
func strOrBin(b []byte, p int) (s []byte, next int, ok bool) {
	if p >= len(b) {
		return nil, p, false
	}
	c := b[p]
	var n, h int
	switch {
	case c&0xe0 == 0xa0:
		n, h = int(c&0x1f), 1
	case (c == 0xd9 || c == 0xc4) && p+2 <= len(b):
		n, h = int(b[p+1]), 2
	case (c == 0xda || c == 0xc5) && p+3 <= len(b):
		n, h = int(binary.BigEndian.Uint16(b[p+1:])), 3
	case (c == 0xdb || c == 0xc6) && p+5 <= len(b):
		n, h = int(binary.BigEndian.Uint32(b[p+1:])), 5
	default:
		return nil, p, false
	}
	start := p + h
	if n < 0 || start+n > len(b) || start+n < start {
		return nil, p, false
	}
	return b[start : start+n], start + n, true
}

// strAt returns the str (not bin) at b[p], if there is one.
func strAt(b []byte, p int) ([]byte, bool) {
	if p >= len(b) {
		return nil, false
	}
	if c := b[p]; c == 0xc4 || c == 0xc5 || c == 0xc6 {
		return nil, false
	}
	s, _, ok := strOrBin(b, p)
	return s, ok
}

// ext reads an ext or fixext object: its type and payload.
func ext(b []byte, p int) (typ int8, data []byte, next int, ok bool) {
	if p >= len(b) {
		return 0, nil, p, false
	}
	c := b[p]
	var n, h int
	switch c {
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		n, h = 1<<(c-0xd4), 1
	case 0xc7:
		if p+2 > len(b) {
			return 0, nil, p, false
		}
		n, h = int(b[p+1]), 2
	case 0xc8:
		if p+3 > len(b) {
			return 0, nil, p, false
		}
		n, h = int(binary.BigEndian.Uint16(b[p+1:])), 3
	case 0xc9:
		if p+5 > len(b) {
			return 0, nil, p, false
		}
		n, h = int(binary.BigEndian.Uint32(b[p+1:])), 5
	default:
		return 0, nil, p, false
	}
	start := p + h + 1
	if start+n > len(b) || start+n < start {
		return 0, nil, p, false
	}
	return int8(b[p+h]), b[start : start+n], start + n, true
}

// skip returns where the object at b[p] ends.
func skip(b []byte, p, depth int) (int, error) {
	if depth > maxDepth {
		return p, errDepth
	}
	if p >= len(b) {
		return p, ErrTruncated
	}
	c := b[p]
	fixed := 0
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		fixed = 1
	case c == 0xcc || c == 0xd0:
		fixed = 2
	case c == 0xcd || c == 0xd1:
		fixed = 3
	case c == 0xca || c == 0xce || c == 0xd2:
		fixed = 5
	case c == 0xcb || c == 0xcf || c == 0xd3:
		fixed = 9
	}
	if fixed > 0 {
		if p+fixed > len(b) {
			return p, ErrTruncated
		}
		return p + fixed, nil
	}
	if _, next, ok := strOrBin(b, p); ok {
		return next, nil
	}
	if _, _, next, ok := ext(b, p); ok {
		return next, nil
	}
	if n, q, ok := arrayHeader(b, p); ok {
		var err error
		for i := uint32(0); i < n; i++ {
			if q, err = skip(b, q, depth+1); err != nil {
				return q, err
			}
		}
		return q, nil
	}
	if n, q, ok := mapHeader(b, p); ok {
		var err error
		for i := uint32(0); i < 2*n; i++ {
			if q, err = skip(b, q, depth+1); err != nil {
				return q, err
			}
		}
		return q, nil
	}
	if c == 0xc1 {
		return p, errReserved
	}
	return p, ErrTruncated
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping what JSON requires (and
// <, >, & are left alone: these bodies are data, not HTML).
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' { // valid JSON, but not valid JavaScript
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
