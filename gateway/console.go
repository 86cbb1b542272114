package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/referralgw/gateway/audit"
)

// ConsoleAccount is an administrator of the admin console. The core keeps
// it and checks its shape; the admin face hashes passwords and checks
// second factors.
type ConsoleAccount struct {
	Name     string          `json:"name"`
	Role     string          `json:"role"`               // admin, operator or auditor
	Practice string          `json:"practice,omitempty"` // "" for a gateway-wide account
	Password ConsolePassword `json:"password"`
	// TOTPSecret is the second factor's shared secret (RFC 6238).
	TOTPSecret string `json:"totpSecret"`
	// LastStep is the TOTP step of the last accepted code: a code of that
	// step or an older one is refused.
	LastStep int64     `json:"lastStep"`
	Created  time.Time `json:"created"`
	// Version is the stored version: UpdateConsoleAccount writes only over
	// the version the caller read.
	Version int `json:"-"`
}

// ConsolePassword is an argon2id hash with the parameters it was made
// with, so that they can be raised without invalidating older hashes.
type ConsolePassword struct {
	Salt    []byte `json:"salt"`
	Key     []byte `json:"key"`
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory"`
	Threads uint8  `json:"threads"`
}

// ConsoleRoles are the roles a console account may have.
var ConsoleRoles = []string{"admin", "operator", "auditor"}

var consoleAccountName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// validate checks what the core requires of every stored account.
func (a *ConsoleAccount) validate() error {
	var errs ValidationErrors
	if !consoleAccountName.MatchString(a.Name) {
		errs = append(errs, &ValidationError{Field: "name", Reason: "must be 1-64 lower-case letters, digits, '.', '_' or '-'"})
	}
	switch a.Role {
	case "admin", "operator", "auditor":
	default:
		errs = append(errs, &ValidationError{Field: "role", Reason: "must be admin, operator or auditor"})
	}
	if len(a.Password.Key) == 0 || len(a.Password.Salt) == 0 || a.Password.Time == 0 || a.Password.Memory == 0 || a.Password.Threads == 0 {
		errs = append(errs, &ValidationError{Field: "password", Reason: "a password hash with its parameters is required"})
	}
	if a.TOTPSecret == "" {
		errs = append(errs, &ValidationError{Field: "totpSecret", Reason: "a second-factor secret is required"})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// CreateConsoleAccount stores a new account and records
// admin.account-created in the gateway's trail (and the practice's, for a
// practice's account) in the same transaction. A practice must be a
// top-level organisation of the directory; a taken name is a
// ValidationError on "name".
func (s *Service) CreateConsoleAccount(ctx context.Context, actor string, a ConsoleAccount) error {
	if err := a.validate(); err != nil {
		return fmt.Errorf("create console account %s: %w", a.Name, err)
	}
	if a.Created.IsZero() {
		a.Created = s.clock.Now()
	}
	if a.Practice != "" {
		e, err := s.Entry(ctx, a.Practice)
		if errors.Is(err, ErrNotFound) || err == nil && (e.Kind != KindOrganization || e.ParentID != "") {
			return fmt.Errorf("create console account %s: %w", a.Name, &ValidationError{Field: "practice",
				Reason: fmt.Sprintf("%q is not a practice (a top-level organization of the directory)", a.Practice)})
		} else if err != nil {
			return fmt.Errorf("create console account %s: %w", a.Name, err)
		}
	}
	detail := map[string]string{"account": a.Name, "role": a.Role}
	tenants := []string{SystemTenant}
	if a.Practice != "" {
		detail["practice"] = a.Practice
		tenants = append(tenants, a.Practice)
	}
	now := s.clock.Now()
	err := s.store.Update(ctx, func(tx Tx) error {
		body, err := json.Marshal(&a)
		if err != nil {
			return err
		}
		ok, err := tx.InsertDocument(ctx, Document{Kind: docConsoleAccount, ID: a.Name, Version: 1, Updated: now, Body: body})
		if err != nil {
			return err
		}
		if !ok {
			return &ValidationError{Field: "name", Reason: "an account with this name exists"}
		}
		return tx.Audit(ctx, audit.Event{Time: now, Actor: actor, Tenants: tenants, Action: "admin.account-created",
			Outcome: audit.OutcomeSuccess, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("create console account %s: %w", a.Name, err)
	}
	return nil
}

// ConsoleAccount returns an account (ErrNotFound when there is none).
func (s *Service) ConsoleAccount(ctx context.Context, name string) (ConsoleAccount, error) {
	var a ConsoleAccount
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		a.Version, err = getDoc(ctx, tx, docConsoleAccount, name, &a)
		return err
	})
	if err != nil {
		return ConsoleAccount{}, fmt.Errorf("console account %s: %w", name, err)
	}
	return a, nil
}

// UpdateConsoleAccount writes back an account read with ConsoleAccount
// (its password, second factor state): ErrConflict when it changed since.
// The account's name, role and practice cannot change this way.
func (s *Service) UpdateConsoleAccount(ctx context.Context, a ConsoleAccount) error {
	if err := a.validate(); err != nil {
		return fmt.Errorf("update console account %s: %w", a.Name, err)
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		var cur ConsoleAccount
		v, err := getDoc(ctx, tx, docConsoleAccount, a.Name, &cur)
		if err != nil {
			return err
		}
		if v != a.Version {
			return ErrConflict
		}
		if cur.Role != a.Role || cur.Practice != a.Practice {
			return &ValidationError{Field: "role", Reason: "an account's role and practice are set when it is created"}
		}
		return putDoc(ctx, tx, docConsoleAccount, a.Name, v+1, s.clock.Now(), time.Time{}, &a)
	})
	if err != nil {
		return fmt.Errorf("update console account %s: %w", a.Name, err)
	}
	return nil
}

// ConsoleSession is one signed-in console session. ID is a digest of the
// session's cookie, never the cookie itself.
type ConsoleSession struct {
	ID       string    `json:"-"`
	Account  string    `json:"account"`
	Role     string    `json:"role"`
	Practice string    `json:"practice,omitempty"`
	CSRF     string    `json:"csrf"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"lastSeen"`
	// Expires is when the stored session may be swept.
	Expires time.Time `json:"-"`
	Version int       `json:"-"`
}

func (ss *ConsoleSession) validate() error {
	if ss.ID == "" || ss.Account == "" || ss.CSRF == "" || ss.Expires.IsZero() {
		return &ValidationError{Field: "session", Reason: "id, account, CSRF token and expiry are required"}
	}
	return nil
}

// StartConsoleSession stores a new session (Version 1).
func (s *Service) StartConsoleSession(ctx context.Context, ss ConsoleSession) error {
	if err := ss.validate(); err != nil {
		return fmt.Errorf("start console session: %w", err)
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		return putDoc(ctx, tx, docConsoleSession, ss.ID, 1, s.clock.Now(), ss.Expires, &ss)
	})
	if err != nil {
		return fmt.Errorf("start console session: %w", err)
	}
	return nil
}

// ConsoleSession returns a stored session (ErrNotFound when there is
// none); the admin face decides whether it is still fresh.
func (s *Service) ConsoleSession(ctx context.Context, id string) (ConsoleSession, error) {
	var ss ConsoleSession
	err := s.store.View(ctx, func(tx Tx) error {
		d, err := tx.Document(ctx, docConsoleSession, id)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(d.Body, &ss); err != nil {
			return err
		}
		ss.ID, ss.Expires, ss.Version = id, d.Expires, d.Version
		return nil
	})
	if err != nil {
		return ConsoleSession{}, fmt.Errorf("console session: %w", err)
	}
	return ss, nil
}

// TouchConsoleSession writes back a session read with ConsoleSession
// (its last use and expiry): ErrConflict when another request touched it
// first.
func (s *Service) TouchConsoleSession(ctx context.Context, ss ConsoleSession) error {
	if err := ss.validate(); err != nil {
		return fmt.Errorf("touch console session: %w", err)
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		return putDoc(ctx, tx, docConsoleSession, ss.ID, ss.Version+1, s.clock.Now(), ss.Expires, &ss)
	})
	if err != nil {
		return fmt.Errorf("touch console session: %w", err)
	}
	return nil
}

// EndConsoleSession deletes a session; one already gone is not an error.
func (s *Service) EndConsoleSession(ctx context.Context, id string) error {
	err := s.store.Update(ctx, func(tx Tx) error { return deleteDoc(ctx, tx, docConsoleSession, id) })
	if err != nil {
		return fmt.Errorf("end console session: %w", err)
	}
	return nil
}
