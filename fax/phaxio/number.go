package phaxio

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by NormalizeUS, each naming the rule the number broke.
var (
	ErrNumberEmpty       = errors.New("phaxio: fax number is empty")
	ErrNumberCharacters  = errors.New("phaxio: fax number has characters other than digits, spaces, +, -, ., ( and )")
	ErrNumberLength      = errors.New("phaxio: fax number does not have 10 digits (or 11 starting with 1)")
	ErrNumberCountry     = errors.New("phaxio: fax number is not in the North American Numbering Plan (+1)")
	ErrNumberAreaCode    = errors.New("phaxio: area code must not start with 0 or 1")
	ErrNumberExchange    = errors.New("phaxio: exchange code must not start with 0 or 1")
	ErrNumberServiceCode = errors.New("phaxio: N11 service codes are not fax numbers")
)

// NormalizeUS turns a US/NANP number as people write it — "(555) 123-4567",
// "555.123.4567", "1-555-123-4567", "+1 555 123 4567" — into E.164
// ("+15551234567"). It refuses numbers of other countries and numbers that
// break NANP rules (area code or exchange starting with 0 or 1, N11 codes),
// returning one of the ErrNumber* errors wrapped with the input's shape.
func NormalizeUS(number string) (string, error) {
	s := strings.TrimSpace(number)
	if s == "" {
		return "", ErrNumberEmpty
	}
	plus := strings.HasPrefix(s, "+")
	if plus {
		s = s[1:]
	}
	digits := make([]byte, 0, 11)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", fmt.Errorf("normalize %d-character number: %w", len(number), ErrNumberCharacters)
		}
	}
	switch {
	case plus && (len(digits) == 0 || digits[0] != '1'):
		return "", ErrNumberCountry
	case len(digits) == 11 && digits[0] == '1':
		digits = digits[1:]
	case len(digits) == 10 && !plus:
	default:
		return "", fmt.Errorf("normalize number with %d digits: %w", len(digits), ErrNumberLength)
	}
	area, exchange := digits[0:3], digits[3:6]
	switch {
	case area[0] == '0' || area[0] == '1':
		return "", ErrNumberAreaCode
	case exchange[0] == '0' || exchange[0] == '1':
		return "", ErrNumberExchange
	case area[1] == '1' && area[2] == '1', exchange[1] == '1' && exchange[2] == '1':
		return "", ErrNumberServiceCode
	}
	return "+1" + string(digits), nil
}
