package piitokenizer

import "strings"

// Key names are context: a value under "email" is an email even when its text
// alone would not say so, and a value under "password" is a password whatever
// it looks like. Names are compared normalized (lower case, letters and digits
// only), so "Client-Secret", "client_secret" and "clientSecret" are one name.

// exactKeyKinds are names whose value is of the kind.
var exactKeyKinds = map[string]kind{
	"email": kindEmail, "emailaddress": kindEmail, "mail": kindEmail, "emails": kindEmail,
	"ssn": kindSSN, "socialsecuritynumber": kindSSN, "socialsecurity": kindSSN,
	"phone": kindPhone, "phonenumber": kindPhone, "mobile": kindPhone, "mobilephone": kindPhone,
	"tel": kindPhone, "telephone": kindPhone, "fax": kindPhone, "cellphone": kindPhone, "phones": kindPhone,
	"cardnumber": kindCreditCard, "creditcard": kindCreditCard, "creditcardnumber": kindCreditCard,
	"ccnumber": kindCreditCard, "pan": kindCreditCard,
	"iban": kindIBAN,
	"ip":   kindIP, "ipaddress": kindIP, "clientip": kindIP, "sourceip": kindIP, "remoteaddr": kindIP,
	"remoteip": kindIP,
	"password": kindPassword, "passwd": kindPassword, "pwd": kindPassword, "pass": kindPassword,
	"passphrase": kindPassword,
	"secret":     kindSecret, "clientsecret": kindSecret, "apikey": kindSecret, "xapikey": kindSecret,
	"accesskey": kindSecret, "secretkey": kindSecret, "secretaccesskey": kindSecret,
	"privatekey": kindPrivateKey, "token": kindSecret, "accesstoken": kindSecret,
	"refreshtoken": kindSecret, "idtoken": kindSecret, "authtoken": kindSecret,
	"sessiontoken": kindSecret, "bearertoken": kindSecret, "apitoken": kindSecret,
	"authorization": kindSecret, "proxyauthorization": kindSecret, "cookie": kindSecret,
	"setcookie": kindSecret, "credentials": kindSecret, "credential": kindSecret,
	"signingkey": kindSecret, "webhooksecret": kindSecret, "encryptionkey": kindSecret,
}

// suffixKeyKinds catch compound names: "user_email", "DB_PASSWORD",
// "stripe_secret_key", "github_access_token". Longer suffixes first.
var suffixKeyKinds = []struct {
	suffix string
	kind   kind
}{
	{"emailaddress", kindEmail}, {"email", kindEmail},
	{"phonenumber", kindPhone}, {"phone", kindPhone},
	{"password", kindPassword}, {"passwd", kindPassword},
	{"clientsecret", kindSecret}, {"secretkey", kindSecret}, {"secret", kindSecret},
	{"privatekey", kindPrivateKey}, {"apikey", kindSecret}, {"accesskey", kindSecret},
	{"accesstoken", kindSecret}, {"refreshtoken", kindSecret}, {"authtoken", kindSecret},
	{"apitoken", kindSecret}, {"sessiontoken", kindSecret}, {"bearertoken", kindSecret},
	{"ssn", kindSSN}, {"iban", kindIBAN}, {"cardnumber", kindCreditCard},
}

// keyContext resolves key names to kinds, with the configured extras. The
// names are kept in a trie read from a name's last byte backwards: the walk
// from the end finds both the whole name and every suffix rule on one path,
// and most names leave it after a byte or two, where hashing them for a map
// lookup would read them whole. Nodes are built once, at Configure.
type keyContext struct {
	nodes []keyNode // nodes[0] is the root
}

type keyNode struct {
	next   [36]uint32 // child per normalized byte (keyIndex); 0 = none, the root is nobody's child
	exact  kind       // the kind of the whole name that ends here, if any
	suffix kind       // the kind of the suffix rule that ends here, if any
	rank   uint8      // the rule's position in suffixKeyKinds: the first listed wins
}

// maxKeyLen is the longest normalized name that is looked up; longer names
// are no key this filter knows.
const maxKeyLen = 64

// keyIndex is 1 + the trie index of a byte that names keep (a-z with A-Z
// folded onto it, 0-9), and 0 for bytes normalization drops.
var keyIndex = func() (t [256]uint8) {
	for c := 0; c < 26; c++ {
		t['a'+c], t['A'+c] = uint8(1+c), uint8(1+c)
	}
	for c := 0; c < 10; c++ {
		t['0'+c] = uint8(27 + c)
	}
	return t
}()

func newKeyContext(keyNames map[string]string) keyContext {
	kc := keyContext{nodes: make([]keyNode, 1, 1024)}
	for name, k := range exactKeyKinds {
		kc.insert(name).exact = k
	}
	for name, typ := range keyNames { // configured names win over built-in ones
		if k, ok := kindByName(typ); ok {
			kc.insert(normalizeKey(name)).exact = k
		}
	}
	for i, s := range suffixKeyKinds {
		if n := kc.insert(s.suffix); n.suffix == kindNone {
			n.suffix, n.rank = s.kind, uint8(i)
		}
	}
	return kc
}

// insert returns the node for a normalized name, adding the missing ones.
func (kc *keyContext) insert(name string) *keyNode {
	n := uint32(0)
	for p := len(name) - 1; p >= 0; p-- {
		b := keyIndex[name[p]] - 1
		if kc.nodes[n].next[b] == 0 {
			kc.nodes = append(kc.nodes, keyNode{})
			kc.nodes[n].next[b] = uint32(len(kc.nodes) - 1)
		}
		n = kc.nodes[n].next[b]
	}
	return &kc.nodes[n]
}

// lookup returns the kind a raw JSON key name implies, or kindNone: a
// configured or built-in name (compared normalized: lower case, letters and
// digits only), else the first suffix rule the name ends with.
func (kc *keyContext) lookup(raw []byte) kind { return lookupKey(kc, raw) }

func (kc *keyContext) lookupString(raw string) kind { return lookupKey(kc, raw) }

func lookupKey[T string | []byte](kc *keyContext, raw T) kind {
	if len(raw) > maxKeyLen && normalizedLen(raw) > maxKeyLen {
		return kindNone
	}
	n := &kc.nodes[0]
	best, bestRank := kindNone, uint8(255)
	for p := len(raw) - 1; p >= 0; p-- {
		b := keyIndex[raw[p]]
		if b == 0 {
			continue
		}
		next := n.next[b-1]
		if next == 0 {
			break
		}
		n = &kc.nodes[next]
		if n.exact == kindNone && n.suffix == kindNone {
			continue
		}
		if normalizedLen(raw[:p]) == 0 { // the whole name
			if n.exact != kindNone {
				return n.exact
			}
		} else if n.suffix != kindNone && n.rank < bestRank { // a suffix, shorter than the name
			best, bestRank = n.suffix, n.rank
		}
	}
	return best
}

// normalizedLen counts the bytes of raw that a normalized name keeps.
func normalizedLen[T string | []byte](raw T) int {
	n := 0
	for i := 0; i < len(raw); i++ {
		if keyIndex[raw[i]] != 0 {
			n++
		}
	}
	return n
}

func normalizeKey(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// isVersionKey: dotted quads under "version" are versions, not addresses.
func isVersionKey(raw []byte) bool {
	return len(raw) >= 7 && strings.EqualFold(string(raw[len(raw)-7:]), "version")
}
