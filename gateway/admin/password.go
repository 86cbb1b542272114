package admin

import (
	"fmt"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"
)

// Password policy (OWASP ASVS 5.0 V6.2): a length floor, a generous
// ceiling, and an estimate of how many guesses the password would take.
const (
	minPassword = 12  // characters
	maxPassword = 128 // characters; argon2id hashes any length, this bounds the work
	// minGuesses is the fewest guesses an attacker with the usual word
	// lists, keyboard patterns, dates and common substitutions should need
	// (zxcvbn's top score: beyond an online attack, and beyond a fast
	// offline one against our argon2id hash for years).
	minGuesses = 1e10
)

// passwordProblem says why password may not be used by the account name,
// or "" when it may. The reason names the weakness, never the password.
func passwordProblem(name, password string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return "must be valid UTF-8 text"
	case n < minPassword:
		return fmt.Sprintf("must be at least %d characters", minPassword)
	case n > maxPassword:
		return fmt.Sprintf("must be at most %d characters", maxPassword)
	}
	res := zxcvbn.PasswordStrength(password, []string{name, "referral", "gateway", "admin"})
	if res.Guesses >= minGuesses {
		return ""
	}
	return "is too easy to guess: " + weakness(res.Sequence)
}

// weakness describes the longest guessable part of a password.
func weakness(seq []*match.Match) string {
	var worst *match.Match
	for _, m := range seq {
		if m.Pattern != "bruteforce" && (worst == nil || len(m.Token) > len(worst.Token)) {
			worst = m
		}
	}
	if worst == nil {
		return "it is short for the characters it uses; use a longer passphrase of unrelated words"
	}
	switch worst.Pattern {
	case "dictionary":
		switch {
		case worst.DictionaryName == "user_inputs":
			return "it contains the account name or the product's name"
		case worst.DictionaryName == "passwords":
			return "it is or contains a commonly used password"
		case worst.L33t:
			return "it is a common word with predictable substitutions (like @ for a)"
		case worst.Reversed:
			return "it is a common word spelled backwards"
		}
		return "it is mostly common words or names; add more unrelated words"
	case "repeat":
		return "it repeats characters or a short pattern"
	case "sequence":
		return "it contains a sequence like abcd or 1234"
	case "spatial":
		return "it contains a keyboard pattern like qwerty"
	case "date":
		return "it contains a date"
	case "regex":
		return "it contains a recent year or another predictable pattern"
	}
	return "it follows a predictable pattern"
}
