package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/smartstore"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
)

// adminClients lets the admin face (which must not import fhir) manage the
// SMART Backend Services clients kept in a smartstore.Store: it speaks
// admin.ClientInfo, reports bad scopes and JWKS documents as the core's
// field errors, and an unknown client as gateway.ErrNotFound.
type adminClients struct {
	store *smartstore.Store
}

var _ admin.ClientRegistry = adminClients{}

// newAdminClients adapts store to admin.ClientRegistry.
func newAdminClients(store *smartstore.Store) adminClients { return adminClients{store: store} }

// Clients implements admin.ClientRegistry.
func (a adminClients) Clients(ctx context.Context) ([]admin.ClientInfo, error) {
	list, err := a.store.Clients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.ClientInfo, 0, len(list))
	for _, c := range list {
		out = append(out, clientInfo(c))
	}
	return out, nil
}

// Register implements admin.ClientRegistry. It checks every scope and the
// JWKS first, so that each refusal names its field; smartstore checks them
// again as it stores them.
func (a adminClients) Register(ctx context.Context, actor string, c admin.ClientInfo, jwks []byte) (admin.ClientInfo, error) {
	var errs gateway.ValidationErrors
	for i, sc := range c.Scopes {
		if _, err := smart.ParseScope(sc); err != nil {
			errs = append(errs, &gateway.ValidationError{Field: "scopes[" + strconv.Itoa(i) + "]", Reason: smartReason(err, smart.ErrScopeSyntax)})
		}
	}
	if keys, err := smart.ParseJWKS(jwks); err != nil {
		errs = append(errs, &gateway.ValidationError{Field: "jwks", Reason: smartReason(err, smart.ErrJWKS)})
	} else if len(keys) == 0 {
		errs = append(errs, &gateway.ValidationError{Field: "jwks", Reason: "no signing key"})
	}
	if len(errs) > 0 {
		return admin.ClientInfo{}, errs
	}
	saved, err := a.store.Register(ctx, actor, smart.Client{ID: c.ID, OrgID: c.OrgID, Scopes: c.Scopes, Disabled: c.Disabled}, jwks)
	if err != nil {
		return admin.ClientInfo{}, err
	}
	return clientInfo(saved), nil
}

// SetDisabled implements admin.ClientRegistry; smartstore audits the change.
func (a adminClients) SetDisabled(ctx context.Context, actor, id string, disabled bool) (admin.ClientInfo, error) {
	c, err := a.store.SetDisabled(ctx, actor, id, disabled)
	if errors.Is(err, smart.ErrUnknownClient) {
		return admin.ClientInfo{}, fmt.Errorf("%w: %w", gateway.ErrNotFound, err)
	}
	if err != nil {
		return admin.ClientInfo{}, err
	}
	return clientInfo(c), nil
}

// clientInfo is what the admin face may show of c: its key ids, never keys.
func clientInfo(c smart.Client) admin.ClientInfo {
	kids := make([]string, 0, len(c.JWKS))
	for _, k := range c.JWKS {
		kids = append(kids, k.KID)
	}
	return admin.ClientInfo{ID: c.ID, OrgID: c.OrgID, Scopes: c.Scopes, KeyIDs: kids, Disabled: c.Disabled}
}

// smartReason is err's message without the sentinel's package prefix, e.g.
// "no signing keys" rather than "smart: jwks: no signing keys".
func smartReason(err, sentinel error) string {
	msg := err.Error()
	if r, ok := strings.CutPrefix(msg, sentinel.Error()+": "); ok {
		return r
	}
	return msg
}
