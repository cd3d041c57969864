package piitokenizer

import "math/bits"

// kind is one detected type of sensitive value. Its name appears in tokens
// (tok_<name>_...), redaction markers, the body's "pii" counts and the
// record's "pii.<name>" attributes.
type kind uint8

const (
	kindNone kind = iota
	// Personal data: tokenized by default so joins across events still work.
	kindEmail
	kindPhone
	kindSSN
	kindCreditCard
	kindIBAN
	kindIP
	// Secrets and credentials: redacted by default and never kept.
	kindJWT
	kindBearer
	kindBasicAuth
	kindURLCredentials
	kindPassword
	kindSecret
	kindPrivateKey
	kindAWSAccessKey
	kindGitHubToken
	kindGitLabToken
	kindSlackToken
	kindStripeKey
	kindOpenAIKey
	kindAnthropicKey
	kindGoogleAPIKey
	numKinds
)

// kindSet is a set of kinds, bit k for kind k. The walker notes which
// counts a body touched, so clearing and reading them visits those only.
type kindSet uint32

func (s *kindSet) add(k kind) { *s |= 1 << k }

// all yields the kinds in the set in increasing order.
func (s kindSet) all() func(yield func(kind) bool) {
	return func(yield func(kind) bool) {
		for ; s != 0; s &= s - 1 {
			if !yield(kind(bits.TrailingZeros32(uint32(s)))) {
				return
			}
		}
	}
}

var kindNames = [numKinds]string{
	kindNone:           "",
	kindEmail:          "email",
	kindPhone:          "phone",
	kindSSN:            "ssn",
	kindCreditCard:     "credit_card",
	kindIBAN:           "iban",
	kindIP:             "ip_address",
	kindJWT:            "jwt",
	kindBearer:         "bearer_token",
	kindBasicAuth:      "basic_auth",
	kindURLCredentials: "url_credentials",
	kindPassword:       "password",
	kindSecret:         "secret",
	kindPrivateKey:     "private_key",
	kindAWSAccessKey:   "aws_access_key",
	kindGitHubToken:    "github_token",
	kindGitLabToken:    "gitlab_token",
	kindSlackToken:     "slack_token",
	kindStripeKey:      "stripe_key",
	kindOpenAIKey:      "openai_api_key",
	kindAnthropicKey:   "anthropic_api_key",
	kindGoogleAPIKey:   "google_api_key",
}

func (k kind) String() string { return kindNames[k] }

// isSecret reports whether k is a secret or credential: such values must be
// rotated when leaked, so they are never kept in an audit trail.
func (k kind) isSecret() bool { return k >= kindJWT }

// kindByName maps a type name (as written in config) to its kind.
func kindByName(name string) (kind, bool) {
	for k := kindEmail; k < numKinds; k++ {
		if kindNames[k] == name {
			return k, true
		}
	}
	return kindNone, false
}

// KindNames lists every type name in canonical order, for docs and tests.
func KindNames() []string {
	out := make([]string, 0, numKinds-1)
	for k := kindEmail; k < numKinds; k++ {
		out = append(out, kindNames[k])
	}
	return out
}

// action is what happens to a detected value.
type action uint8

const (
	actTokenize action = iota
	actMask
	actRedact
	actHash
	actKeep
)

var actionNames = []string{"tokenize", "mask", "redact", "hash", "keep"}

func actionByName(name string) (action, bool) {
	for i, n := range actionNames {
		if n == name {
			return action(i), true
		}
	}
	return 0, false
}

// defaultAction: personal data becomes a deterministic token (joins keep
// working); secrets are removed outright.
func defaultAction(k kind) action {
	if k.isSecret() {
		return actRedact
	}
	return actTokenize
}
