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

// keyContext resolves key names to kinds, with the configured extras.
type keyContext struct {
	extra map[string]kind
}

func newKeyContext(keyNames map[string]string) keyContext {
	kc := keyContext{extra: map[string]kind{}}
	for name, typ := range keyNames {
		if k, ok := kindByName(typ); ok {
			kc.extra[normalizeKey(name)] = k
		}
	}
	return kc
}

// lookup returns the kind a raw JSON key name implies, or kindNone. It does
// not allocate for names up to 64 bytes.
func (kc keyContext) lookup(raw []byte) kind {
	var buf [64]byte
	n := 0
	for _, c := range raw {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		default:
			continue
		}
		if n == len(buf) {
			return kindNone
		}
		buf[n] = c
		n++
	}
	if n == 0 {
		return kindNone
	}
	key := buf[:n]
	if k, ok := kc.extra[string(key)]; ok {
		return k
	}
	if k, ok := exactKeyKinds[string(key)]; ok {
		return k
	}
	for _, s := range suffixKeyKinds {
		if len(key) > len(s.suffix) && string(key[len(key)-len(s.suffix):]) == s.suffix {
			return s.kind
		}
	}
	return kindNone
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
