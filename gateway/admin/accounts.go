package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/gateway"
)

// Role is what an administrator may do.
type Role string

// The three roles. Every role reads; operators also change the directory,
// BAAs and referrals; only admins manage accounts and FHIR clients.
const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleAuditor  Role = "auditor"
)

// valid reports whether r is one of the three roles.
func (r Role) valid() bool { return r == RoleAdmin || r == RoleOperator || r == RoleAuditor }

// CanChange reports whether r may change the directory, BAAs or referrals.
func (r Role) CanChange() bool { return r == RoleAdmin || r == RoleOperator }

// CanManageAccounts reports whether r may create accounts.
func (r Role) CanManageAccounts() bool { return r == RoleAdmin }

// CanManageClients reports whether r may register, disable or enable FHIR
// clients (which grant systems access to referral data).
func (r Role) CanManageClients() bool { return r == RoleAdmin }

// Login policy (throttling is in throttle.go, the password rules in
// password.go).
const (
	totpPeriod   = 30 // seconds per TOTP step (RFC 6238)
	totpSkew     = 1  // steps accepted either side of now
	totpIssuer   = "Referral Gateway"
	auditTenant  = "gateway"
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB (the OWASP minimum for argon2id)
	argonThreads = 1
	argonKeyLen  = 32
)

var accountNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// passwordHash is an argon2id hash with the parameters it was made with, so
// that parameters can be raised later without invalidating old hashes.
type passwordHash struct {
	Salt    []byte
	Key     []byte
	Time    uint32
	Memory  uint32
	Threads uint8
}

func hashPassword(password string) (passwordHash, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return passwordHash{}, fmt.Errorf("admin: password salt: %w", err)
	}
	return passwordHash{Salt: salt, Time: argonTime, Memory: argonMemory, Threads: argonThreads,
		Key: argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)}, nil
}

// matches reports whether password hashes to h, in constant time.
func (h passwordHash) matches(password string) bool {
	if len(h.Key) == 0 || h.Time == 0 || h.Memory == 0 || h.Threads == 0 {
		return false
	}
	k := argon2.IDKey([]byte(password), h.Salt, h.Time, h.Memory, h.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(k, h.Key) == 1
}

// account is one administrator as this package works with it (the core
// keeps it as a gateway.ConsoleAccount). Practice is the practice the
// account belongs to ("" for a gateway-wide account).
type account struct {
	Name       string
	Role       Role
	Practice   string
	Password   passwordHash
	TOTPSecret string
	LastStep   int64 // TOTP step of the last accepted code; older or equal codes are refused
	Created    time.Time
	version    int
}

// CreateAccount adds a gateway-wide administrator with a password and a
// fresh TOTP secret, and returns the otpauth:// URI to enrol it in an
// authenticator app. A gateway-wide account manages the directory,
// vendors, BAAs, accounts and FHIR clients; it does not see any practice's
// referrals. The change is audited with the system as actor.
func (s *Server) CreateAccount(ctx context.Context, name, password string, role Role) (totpURI string, err error) {
	return createAccount(ctx, s.svc, s.clock, "system", name, password, role, "")
}

// CreatePracticeAccount adds an account that belongs to one practice (a
// root organisation of the directory): it sees and changes only that
// practice's referrals, audit trail and BAAs.
func (s *Server) CreatePracticeAccount(ctx context.Context, practice, name, password string, role Role) (totpURI string, err error) {
	return createAccount(ctx, s.svc, s.clock, "system", name, password, role, practice)
}

// BootstrapAdmin creates an admin account directly over svc, for the
// `gateway admin create` command, and returns its otpauth:// URI.
func BootstrapAdmin(ctx context.Context, svc *gateway.Service, name, password string) (totpURI string, err error) {
	return createAccount(ctx, svc, svc.Clock(), "cli", name, password, RoleAdmin, "")
}

// checkPractice reports why practice cannot own accounts ("" when it can):
// it must be a root organisation of the directory.
func checkPractice(ctx context.Context, svc *gateway.Service, practice string) string {
	e, err := svc.Entry(ctx, practice)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return fmt.Sprintf("%q is not in the directory", practice)
	case err != nil:
		return "could not be checked"
	case e.Kind != gateway.KindOrganization || e.ParentID != "":
		return fmt.Sprintf("%q is a %s, not a practice (a top-level organization)", practice, e.Kind)
	}
	return ""
}

// createAccount validates and stores a new account on behalf of actor;
// practice "" makes it gateway-wide.
func createAccount(ctx context.Context, svc *gateway.Service, clock gateway.Clock, actor, name, password string, role Role, practice string) (string, error) {
	var errs gateway.ValidationErrors
	if practice != "" {
		if why := checkPractice(ctx, svc, practice); why != "" {
			errs = append(errs, &gateway.ValidationError{Field: "practice", Reason: why})
		}
	}
	if !accountNamePattern.MatchString(name) {
		errs = append(errs, &gateway.ValidationError{Field: "name", Reason: "must be 1-64 lower-case letters, digits, '.', '_' or '-'"})
	}
	if reason := passwordProblem(name, password); reason != "" {
		errs = append(errs, &gateway.ValidationError{Field: "password", Reason: reason})
	}
	if !role.valid() {
		errs = append(errs, &gateway.ValidationError{Field: "role", Reason: "must be admin, operator or auditor"})
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("admin: create account: %w", errs)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: name, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("admin: create account: totp secret: %w", err)
	}
	h, err := hashPassword(password)
	if err != nil {
		return "", err
	}
	err = svc.CreateConsoleAccount(ctx, actor, gateway.ConsoleAccount{Name: name, Role: string(role), Practice: practice,
		Password: gateway.ConsolePassword(h), TOTPSecret: key.Secret(), Created: clock.Now()})
	if err != nil {
		return "", fmt.Errorf("admin: create account %s: %w", name, err)
	}
	return key.URL(), nil
}

// loadAccount reads one account.
func loadAccount(ctx context.Context, svc *gateway.Service, name string) (*account, error) {
	c, err := svc.ConsoleAccount(ctx, name)
	if err != nil {
		return nil, err
	}
	return &account{Name: c.Name, Role: Role(c.Role), Practice: c.Practice, Password: passwordHash(c.Password),
		TOTPSecret: c.TOTPSecret, LastStep: c.LastStep, Created: c.Created, version: c.Version}, nil
}

// saveAccount writes a changed account back (optimistic on its version).
func saveAccount(ctx context.Context, svc *gateway.Service, a *account) error {
	return svc.UpdateConsoleAccount(ctx, gateway.ConsoleAccount{Name: a.Name, Role: string(a.Role), Practice: a.Practice,
		Password: gateway.ConsolePassword(a.Password), TOTPSecret: a.TOTPSecret, LastStep: a.LastStep, Created: a.Created, Version: a.version})
}

// matchTOTP returns the time step a code is valid for, within totpSkew steps
// of now, and false when it matches none.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	found, step := false, int64(0)
	for off := -totpSkew; off <= totpSkew; off++ {
		t := now.Add(time.Duration(off*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !found {
			found, step = true, t.Unix()/totpPeriod
		}
	}
	return step, found
}

// audit records an event of the admin face in the gateway's own trail.
func (s *Server) audit(ctx context.Context, actor, action, outcome string, detail map[string]string) error {
	tenant := auditTenant
	if p := gateway.ScopeFrom(ctx).Practice; p != "" {
		tenant = p
		if detail == nil {
			detail = map[string]string{}
		}
		detail["practice"] = p
	}
	err := s.svc.RecordAudit(ctx, audit.Event{Time: s.clock.Now(), Actor: actor, Tenants: []string{tenant},
		Action: action, Outcome: outcome, Detail: detail})
	if err != nil {
		return fmt.Errorf("admin: audit %s: %w", action, err)
	}
	return nil
}
