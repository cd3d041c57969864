package piitokenizer

// Validators that turn pattern candidates into findings. Each is a few lines
// of arithmetic, so they run before anything costly.

// luhn reports whether a digit string passes the Luhn (mod 10) check that
// every payment card number carries.
func luhn(digits []byte) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// cardIssuer reports whether the number's leading digits and length belong to
// a card network (IIN ranges of Visa, Mastercard, Amex, Discover, JCB, Diners,
// UnionPay, Maestro), which rules out Luhn-passing timestamps and ids.
func cardIssuer(d []byte) bool {
	n := len(d)
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p4 := p2*100 + int(d[2]-'0')*10 + int(d[3]-'0')
	switch {
	case d[0] == '4':
		return n == 13 || n == 16 || n == 19 // Visa
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return n == 16 // Mastercard
	case p2 == 34 || p2 == 37:
		return n == 15 // Amex
	case p4 == 6011, p2 == 65, p4 >= 6440 && p4 <= 6499:
		return n >= 16 && n <= 19 // Discover
	case p4 >= 3528 && p4 <= 3589:
		return n >= 16 && n <= 19 // JCB
	case p2 == 36, p2 == 38, p2 == 39, p4 >= 3000 && p4 <= 3059:
		return n >= 14 && n <= 19 // Diners Club
	case p2 == 62:
		return n >= 16 && n <= 19 // UnionPay
	case p2 == 50, p2 >= 56 && p2 <= 58, p2 == 63, p2 == 67:
		return n >= 12 && n <= 19 // Maestro
	}
	return false
}

// validSSN applies the SSA's never-issued rules: area 000, 666 and 900-999,
// group 00 and serial 0000 do not exist.
func validSSN(d []byte) bool {
	if len(d) != 9 {
		return false
	}
	area := int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	group := int(d[3]-'0')*10 + int(d[4]-'0')
	serial := int(d[5]-'0')*1000 + int(d[6]-'0')*100 + int(d[7]-'0')*10 + int(d[8]-'0')
	return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

// ibanLengths is the IBAN length per country (SWIFT IBAN registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
	"BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
	"EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
	"GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
	"LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
	"NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
	"SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VA": 22,
	"VG": 24, "XK": 20,
}

// ibanValid checks an IBAN without spaces, upper case: mod 97 of the
// rearranged number must be 1 (ISO 13616).
func ibanValid(s []byte) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	rem := 0
	add := func(c byte) bool {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		default:
			return false
		}
		return true
	}
	for _, c := range s[4:] {
		if !add(c) {
			return false
		}
	}
	for _, c := range s[:4] {
		if !add(c) {
			return false
		}
	}
	return rem == 1
}
