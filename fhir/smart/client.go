package smart

import (
	"context"
	"errors"
	"sync"
)

// ErrUnknownClient is returned by a ClientRegistry for an id it does not hold.
var ErrUnknownClient = errors.New("smart: unknown client")

// Client is a registered backend-services client: a system that acts for one
// organization and proves itself with keys from its JWKS.
type Client struct {
	// ID is the OAuth client_id; the assertion's iss and sub must equal it.
	ID string
	// OrgID is the organization (tenant) the client acts for.
	OrgID string
	// JWKS holds the public keys its assertions may be signed with.
	JWKS JWKS
	// Scopes are the SMART system scopes it may be granted, e.g. "system/Task.rs".
	Scopes []string
	// Disabled clients are refused even with a valid assertion.
	Disabled bool
}

// ClientRegistry looks up registered clients; it returns an error wrapping
// ErrUnknownClient when the id is not registered.
type ClientRegistry interface {
	Client(ctx context.Context, id string) (Client, error)
}

// MemoryRegistry is a ClientRegistry held in memory, for tests and small
// deployments; it is safe for concurrent use. The zero value is empty.
type MemoryRegistry struct {
	mu      sync.RWMutex
	clients map[string]Client
}

// Put adds or replaces a client.
func (m *MemoryRegistry) Put(c Client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clients == nil {
		m.clients = make(map[string]Client)
	}
	m.clients[c.ID] = c
}

// Client returns the client with the given id or ErrUnknownClient.
func (m *MemoryRegistry) Client(_ context.Context, id string) (Client, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.clients[id]
	if !ok {
		return Client{}, ErrUnknownClient
	}
	return c, nil
}
