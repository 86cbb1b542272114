package admin

import (
	"context"
	"time"
)

// AccountInfo is what may be shown about an account: never its password
// hash or TOTP secret.
type AccountInfo struct {
	Name     string
	Role     Role
	Practice string // "" for a gateway-wide account
	Created  time.Time
}

// Account looks up one account by name; an unknown name wraps
// gateway.ErrNotFound. `gateway admin create` uses it to leave an existing
// account unchanged.
func (s *Server) Account(ctx context.Context, name string) (AccountInfo, error) {
	a, err := loadAccount(ctx, s.svc, name)
	if err != nil {
		return AccountInfo{}, err
	}
	return AccountInfo{Name: a.Name, Role: a.Role, Practice: a.Practice, Created: a.Created}, nil
}
