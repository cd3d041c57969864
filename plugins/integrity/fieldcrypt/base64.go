package fieldcrypt

import "encoding/binary"

// appendBase64 appends src in base64url without padding, exactly as
// base64.RawURLEncoding.AppendEncode does, six bytes at a time: the
// standard encoder takes three at a time with a bounds check for each byte
// read and written, and encoding the payload cost more than sealing it.
func appendBase64(dst, src []byte) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for len(src) >= 8 { // eight bytes read, six of them encoded
		v := binary.BigEndian.Uint64(src)
		dst = append(dst,
			alphabet[v>>58], alphabet[v>>52&63], alphabet[v>>46&63], alphabet[v>>40&63],
			alphabet[v>>34&63], alphabet[v>>28&63], alphabet[v>>22&63], alphabet[v>>16&63])
		src = src[6:]
	}
	for len(src) >= 3 {
		v := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		dst = append(dst, alphabet[v>>18], alphabet[v>>12&63], alphabet[v>>6&63], alphabet[v&63])
		src = src[3:]
	}
	switch len(src) { // the last one or two bytes: two or three digits, no padding
	case 2:
		v := uint(src[0])<<16 | uint(src[1])<<8
		dst = append(dst, alphabet[v>>18], alphabet[v>>12&63], alphabet[v>>6&63])
	case 1:
		v := uint(src[0]) << 16
		dst = append(dst, alphabet[v>>18], alphabet[v>>12&63])
	}
	return dst
}
