package piitokenizer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"hash"
	"strings"
)

// b32 is the standard base32 alphabet in lower case, as tokens show it.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// replacer turns findings into their replacement text. It owns one HMAC
// state, reset per value, so the hot path builds no crypto state; it is used
// by Process only, which the host calls from one goroutine.
type replacer struct {
	mac      hash.Hash
	actions  [numKinds]action
	tokenLen int
	sum      [sha256.Size]byte
	msg      []byte // the HMAC input, reused
}

func newReplacer(key []byte, actions [numKinds]action, tokenLen int) *replacer {
	return &replacer{mac: hmac.New(sha256.New, key), actions: actions, tokenLen: tokenLen}
}

// digest is HMAC-SHA256(key, type ‖ 0x00 ‖ normalized value): keyed, so
// low-entropy values (SSNs, phone numbers) cannot be brute-forced from the
// output, and bound to the type, so one value gets different tokens as
// different types.
func (r *replacer) digest(k kind, norm string) []byte {
	r.msg = append(append(append(r.msg[:0], k.String()...), 0), norm...)
	r.mac.Reset()
	r.mac.Write(r.msg) // one write of the same bytes: the same digest, no per-call conversions
	return r.mac.Sum(r.sum[:0])
}

// appendReplacement appends what replaces value (a finding of kind k).
func (r *replacer) appendReplacement(dst []byte, k kind, value, norm string) []byte {
	if norm == "" {
		norm = value
	}
	switch r.actions[k] {
	case actKeep:
		return append(dst, value...)
	case actRedact:
		dst = append(dst, "[REDACTED:"...)
		dst = append(dst, k.String()...)
		return append(dst, ']')
	case actHash:
		dst = append(dst, "hmac-sha256:"...)
		return hex.AppendEncode(dst, r.digest(k, norm))
	case actMask:
		return appendMask(dst, k, value)
	default:
		dst = append(dst, "tok_"...)
		dst = append(dst, k.String()...)
		dst = append(dst, '_')
		// Base32 turns each 5 bytes into 8 characters on their own, so the
		// first tokenLen characters need only the first groups of the digest.
		sum := r.digest(k, norm)
		n := len(dst)
		dst = b32.AppendEncode(dst, sum[:min(len(sum), (r.tokenLen+7)/8*5)])
		return dst[:n+r.tokenLen]
	}
}

// appendMask writes a display-preserving mask: enough to recognize the value
// on screen, never enough to recover it.
func appendMask(dst []byte, k kind, v string) []byte {
	switch k {
	case kindEmail: // j***@example.com
		at := strings.LastIndexByte(v, '@')
		if at <= 0 {
			return append(dst, "***"...)
		}
		dst = append(dst, v[0])
		dst = append(dst, "***"...)
		return append(dst, v[at:]...)
	case kindSSN: // ***-**-6789
		d := lastDigits(v, 4)
		return append(append(dst, "***-**-"...), d...)
	case kindCreditCard: // **** **** **** 4242 (last four is the PCI-DSS display allowance)
		d := lastDigits(v, 4)
		return append(append(dst, "**** **** **** "...), d...)
	case kindPhone, kindIBAN: // every digit or letter but the last four, layout kept
		keep := 4
		if k == kindIBAN {
			dst = append(dst, v[:min(2, len(v))]...) // the country stays visible
			v = v[min(2, len(v)):]
		}
		n := 0
		for i := 0; i < len(v); i++ {
			if is(v[i], cAlnum) {
				n++
			}
		}
		for i := 0; i < len(v); i++ {
			c := v[i]
			if is(c, cAlnum) {
				if n > keep {
					c = '*'
				}
				n--
			}
			dst = append(dst, c)
		}
		return dst
	case kindIP: // the network stays, the host goes: 203.0.113.* / 2001:db8:85a3:*
		if strings.Contains(v, ":") {
			parts := strings.SplitN(v, ":", 4)
			if len(parts) == 4 {
				return append(append(dst, strings.Join(parts[:3], ":")...), ":*"...)
			}
			return append(dst, "*"...)
		}
		if dot := strings.LastIndexByte(v, '.'); dot > 0 {
			return append(append(dst, v[:dot]...), ".*"...)
		}
		return append(dst, "*"...)
	case kindPassword, kindSecret, kindURLCredentials, kindBasicAuth, kindPrivateKey:
		return append(dst, "********"...) // not even the length
	default: // provider tokens: the prefix says which key to rotate
		n := 4
		if len(v) <= 8 {
			n = 0
		}
		return append(append(dst, v[:n]...), "********"...)
	}
}

func lastDigits(v string, n int) string {
	var out []byte
	for i := len(v) - 1; i >= 0 && len(out) < n; i-- {
		if is(v[i], cDigit) {
			out = append(out, v[i])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}
