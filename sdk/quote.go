package sdk

import "encoding/json"

// AppendJSONString appends s quoted exactly as json.Marshal quotes it
// (HTML-safe escapes included). The names, types and ids stages write are
// nearly always plain ASCII, which needs no escaping and is copied as is;
// anything else goes through json.Marshal.
func AppendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
