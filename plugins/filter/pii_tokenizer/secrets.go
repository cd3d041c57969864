package piitokenizer

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// tokenRule recognizes a provider secret by its fixed prefix and the length
// of its body (the prefixes and lengths that gitleaks' rules document).
type tokenRule struct {
	prefix   string
	kind     kind
	min, max int   // body length after the prefix
	body     uint8 // character class of the body
}

// Rules by first byte, longest prefix first where prefixes nest (sk-ant- before sk-).
var tokenRules = map[byte][]tokenRule{
	'A': {
		{"AKIA", kindAWSAccessKey, 16, 16, cUpper | cDigit}, {"ASIA", kindAWSAccessKey, 16, 16, cUpper | cDigit},
		{"ABIA", kindAWSAccessKey, 16, 16, cUpper | cDigit}, {"ACCA", kindAWSAccessKey, 16, 16, cUpper | cDigit},
		{"AGPA", kindAWSAccessKey, 16, 16, cUpper | cDigit}, {"AIDA", kindAWSAccessKey, 16, 16, cUpper | cDigit},
		{"AROA", kindAWSAccessKey, 16, 16, cUpper | cDigit}, {"AIPA", kindAWSAccessKey, 16, 16, cUpper | cDigit},
		{"ANPA", kindAWSAccessKey, 16, 16, cUpper | cDigit}, {"ANVA", kindAWSAccessKey, 16, 16, cUpper | cDigit},
		{"APKA", kindAWSAccessKey, 16, 16, cUpper | cDigit},
		{"AIza", kindGoogleAPIKey, 35, 35, cToken},
	},
	'g': {
		{"github_pat_", kindGitHubToken, 50, 120, cAlnum | cWord},
		{"ghp_", kindGitHubToken, 36, 40, cAlnum}, {"gho_", kindGitHubToken, 36, 40, cAlnum},
		{"ghu_", kindGitHubToken, 36, 40, cAlnum}, {"ghs_", kindGitHubToken, 36, 40, cAlnum},
		{"ghr_", kindGitHubToken, 36, 40, cAlnum},
		{"glpat-", kindGitLabToken, 20, 80, cToken}, {"glptt-", kindGitLabToken, 20, 80, cToken},
		{"gldt-", kindGitLabToken, 20, 80, cToken}, {"glrt-", kindGitLabToken, 20, 80, cToken},
	},
	'x': {
		{"xoxb-", kindSlackToken, 10, 250, cToken}, {"xoxp-", kindSlackToken, 10, 250, cToken},
		{"xoxa-", kindSlackToken, 10, 250, cToken}, {"xoxr-", kindSlackToken, 10, 250, cToken},
		{"xoxs-", kindSlackToken, 10, 250, cToken}, {"xoxe-", kindSlackToken, 10, 250, cToken},
		{"xapp-", kindSlackToken, 10, 250, cToken},
	},
	's': {
		{"sk_live_", kindStripeKey, 16, 255, cAlnum}, {"sk_test_", kindStripeKey, 16, 255, cAlnum},
		{"sk-ant-", kindAnthropicKey, 32, 255, cToken},
		{"sk-proj-", kindOpenAIKey, 20, 255, cToken}, {"sk-svcacct-", kindOpenAIKey, 20, 255, cToken},
		{"sk-admin-", kindOpenAIKey, 20, 255, cToken},
		{"sk-", kindOpenAIKey, 32, 64, cAlnum},
	},
	'r': {{"rk_live_", kindStripeKey, 16, 255, cAlnum}, {"rk_test_", kindStripeKey, 16, 255, cAlnum}},
	'w': {{"whsec_", kindStripeKey, 24, 255, cAlnum}},
}

// tokenRulesByByte is tokenRules as an array: it is consulted at every word
// start, where a map lookup (hashing the byte) cost more than the rest.
var tokenRulesByByte = func() (t [256][]tokenRule) {
	for c, rules := range tokenRules {
		t[c] = rules
	}
	return t
}()

// tokenSecondBytes is, per first byte, the set of second bytes its rules'
// prefixes have (bit b-64 for byte b; every prefix's second byte is in
// 64..127). Most words fail this test on their first two bytes, before any
// prefix is compared.
var tokenSecondBytes = func() (t [256]uint64) {
	for c, rules := range tokenRules {
		for _, r := range rules {
			if r.prefix[1] < 64 || r.prefix[1] > 127 {
				panic("token prefix " + r.prefix + ": second byte outside 64..127")
			}
			t[c] |= 1 << (r.prefix[1] - 64)
		}
	}
	return t
}()

func prefixSecretAt(s string, i int) (finding, bool) {
	c := s[i]
	if c == 'e' {
		return jwtAt(s, i)
	}
	if i+1 >= len(s) || s[i+1] < 64 || s[i+1] > 127 || tokenSecondBytes[c]&(1<<(s[i+1]-64)) == 0 {
		return finding{}, false
	}
	return tokenRuleAt(s, i)
}

// tokenRuleAt tries the rules of s[i], in order.
func tokenRuleAt(s string, i int) (finding, bool) {
	for _, r := range tokenRulesByByte[s[i]] {
		if !strings.HasPrefix(s[i:], r.prefix) {
			continue
		}
		b := i + len(r.prefix)
		j := b
		for j < len(s) && j-b <= r.max && is(s[j], r.body) {
			j++
		}
		if n := j - b; n < r.min || n > r.max || (j < len(s) && is(s[j], cWord)) {
			continue
		}
		return finding{kind: r.kind, start: i, end: j}, true
	}
	return finding{}, false
}

// jwtAt accepts header.payload.signature where the header decodes to a JSON
// object naming an "alg": random base64 never does.
func jwtAt(s string, i int) (finding, bool) {
	if !strings.HasPrefix(s[i:], "eyJ") {
		return finding{}, false
	}
	j, dots, firstDot := i, 0, -1
	for j < len(s) && (is(s[j], cToken) || (s[j] == '.' && dots < 2)) {
		if s[j] == '.' {
			if dots == 0 {
				firstDot = j
			}
			dots++
		}
		j++
	}
	if dots < 2 || firstDot-i < 10 || (j < len(s) && is(s[j], cWord)) {
		return finding{}, false
	}
	hdr, err := base64.RawURLEncoding.DecodeString(s[i:firstDot])
	if err != nil {
		return finding{}, false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hdr, &h) != nil || h.Alg == "" {
		return finding{}, false
	}
	return finding{kind: kindJWT, start: i, end: j}, true
}

// authSchemeAt finds "Bearer <token>" and "Basic <base64 user:pass>"; the
// finding is the credential, so "Bearer " stays readable.
func authSchemeAt(s string, i int) (finding, bool) {
	var k kind
	var n int
	switch {
	case len(s)-i > 7 && strings.EqualFold(s[i:i+6], "bearer") && s[i+6] == ' ':
		k, n = kindBearer, 6
	case len(s)-i > 6 && strings.EqualFold(s[i:i+5], "basic") && s[i+5] == ' ':
		k, n = kindBasicAuth, 5
	default:
		return finding{}, false
	}
	b := i + n
	for b < len(s) && s[b] == ' ' {
		b++
	}
	j := b
	for j < len(s) && (is(s[j], cToken) || s[j] == '.' || s[j] == '~' || s[j] == '+' || s[j] == '/' || s[j] == '=') {
		j++
	}
	if j-b < 8 || (j < len(s) && is(s[j], cWord)) || strings.HasPrefix(s[b:j], "tok_") {
		return finding{}, false
	}
	if k == kindBasicAuth {
		dec, err := base64.StdEncoding.DecodeString(s[b:j])
		if err != nil || !strings.Contains(string(dec), ":") {
			return finding{}, false
		}
	}
	return finding{kind: k, start: b, end: j}, true
}

// keyValueAt finds secrets written as text: "DB_PASSWORD=hunter2",
// "api_key: abc", `"client_secret": "..."` inside a JSON string, "?token=...".
// The name is word bytes and '-': it starts with the word at i, which runs
// to wordEnd, so the scan resumes there.
func (d *detector) keyValueAt(s string, i, wordEnd int) (finding, bool) {
	j := min(wordEnd, i+64)
	for j < len(s) && j-i < 64 && (is(s[j], cWord) || s[j] == '-') {
		j++
	}
	k := j
	if k < len(s) && (s[k] == '"' || s[k] == '\'') {
		k++
	}
	for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
		k++
	}
	if k >= len(s) || (s[k] != ':' && s[k] != '=') {
		return finding{}, false
	}
	kd := d.keys.lookupString(s[i:j])
	if !kd.isSecret() && kd != kindSSN {
		return finding{}, false
	}
	k++
	for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
		k++
	}
	var quote byte
	if k < len(s) && (s[k] == '"' || s[k] == '\'') {
		quote = s[k]
		k++
	}
	v := k
	for v < len(s) && v-k < 512 {
		c := s[v]
		if quote != 0 {
			if c == quote || c == '\n' {
				break
			}
		} else if c <= ' ' || c == '"' || c == '\'' || c == ',' || c == ';' || c == '&' || c == '}' || c == ')' || c == ']' || c == '<' || c == '>' {
			break
		}
		v++
	}
	val := s[k:v]
	if trivialValue(val) {
		return finding{}, false
	}
	if kd == kindSSN {
		var ds []byte
		for x := 0; x < len(val); x++ {
			if is(val[x], cDigit) {
				ds = append(ds, val[x])
			} else if val[x] != '-' && val[x] != ' ' {
				return finding{}, false
			}
		}
		if len(ds) != 9 {
			return finding{}, false
		}
		return finding{kind: kindSSN, start: k, end: v, norm: string(ds)}, true
	}
	if f, ok := prefixSecretAt(s, k); ok && f.end == v {
		return f, true // a recognizable token keeps its own type
	}
	return finding{kind: kd, start: k, end: v}, true
}

// trivialValue: placeholders and values already protected are not secrets.
func trivialValue(v string) bool {
	if v == "" || strings.HasPrefix(v, "tok_") || strings.HasPrefix(v, "[REDACTED") || v[0] == '<' || v[0] == '$' || v[0] == '{' {
		return true
	}
	switch strings.ToLower(v) {
	case "null", "none", "nil", "true", "false", "undefined", "redacted", "bearer", "basic", "required", "optional", "string":
		return true
	}
	if strings.HasPrefix(strings.ToLower(v), "bearer ") || strings.HasPrefix(strings.ToLower(v), "basic ") {
		return true // the scheme detector takes the credential
	}
	return strings.Trim(v, "*xX•.") == ""
}
