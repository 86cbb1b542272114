package pgstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// callerSetting is the session setting that carries the gateway's caller
// token; migration 026 (gateway_caller()) compares its SHA-256 with the
// registered ones.
const callerSetting = "gateway.caller"

// callersTable holds the SHA-256 of each registered caller token. Only its
// owner reads it: GrantAppRole grants the application role nothing on it.
const callersTable = "gateway_callers"

// CallerToken derives the token by which the database recognises the
// gateway's own sessions from the gateway's blind-index key (which never
// enters the database). Row-level security believes the acting practice
// and path a session names only when it sent a registered token (see
// RegisterCaller), so the application role's password alone opens no
// practice's rows.
func CallerToken(indexKey []byte) string {
	m := hmac.New(sha256.New, indexKey)
	m.Write([]byte("referralgw/postgres-caller/v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// Option changes how Open connects.
type Option func(*pgx.ConnConfig)

// WithCaller makes every connection of the store (River's included) send
// token as the setting gateway.caller in its startup packet: never in a
// statement, so it shows neither in pg_stat_activity nor in statement
// logs.
func WithCaller(token string) Option {
	return func(c *pgx.ConnConfig) {
		if token != "" {
			c.RuntimeParams[callerSetting] = token
		}
	}
}

// RegisterCaller records token (see CallerToken) as the gateway's, on the
// schema that url reaches as the schema's owner. From then on a session
// that does not send a registered token is not believed when it names a
// practice or a gateway-wide path: it sees and changes no practice's rows,
// no data key and no document.
func RegisterCaller(ctx context.Context, url, token string) error {
	if token == "" {
		return fmt.Errorf("pgstore: register caller: empty token")
	}
	conn, err := Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("pgstore: register caller: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `INSERT INTO `+callersTable+` (token_hash) VALUES (sha256(convert_to($1, 'UTF8'))) ON CONFLICT DO NOTHING`, token); err != nil {
		return fmt.Errorf("pgstore: register caller: %w", err)
	}
	return nil
}

// checkCaller refuses to open a database that has registered callers when
// this store's sessions are not among them (nor the schema's owner's):
// every practice's rows would read as empty and every write would fail
// the policies, so it says why at once.
func (b *backend) checkCaller(ctx context.Context) error {
	var ok bool
	if err := b.pool.QueryRow(ctx, `SELECT gateway_caller()`).Scan(&ok); err != nil {
		return fmt.Errorf("pgstore: check caller: %w", err)
	}
	if !ok {
		return fmt.Errorf("pgstore: the database does not recognise this gateway: its caller token (derived from the " +
			"blind-index key) is not registered; run `gateway migrate --app-role` with the keys serve uses")
	}
	return nil
}
