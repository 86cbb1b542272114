package api

import (
	"context"
	"log/slog"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// TokenAudit returns a smart.TokenServerConfig.OnDecision hook that writes
// every token endpoint decision to the trail of the client's organisation
// (or fallbackTenant when the client is unknown): the client id, granted or
// requested scopes, the reason of a refusal and the issued token's id;
// never the assertion or the token.
func TokenAudit(svc *gateway.Service, fallbackTenant string, log *slog.Logger) func(context.Context, smart.Decision) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, d smart.Decision) {
		tenant := d.OrgID
		if tenant == "" {
			tenant = fallbackTenant
		}
		actor := "anonymous"
		if d.ClientID != "" {
			actor = "client:" + d.ClientID
		}
		ev := audit.Event{Actor: actor, Tenants: []string{tenant}, Action: "auth.token.granted", Outcome: audit.OutcomeSuccess,
			Detail: map[string]string{"scopes": strings.Join(d.Scopes, " "), "token": d.TokenID}}
		if !d.Granted {
			ev.Action, ev.Outcome = "auth.token.refused", audit.OutcomeRefused
			ev.Detail["reason"] = d.Reason
		}
		for k, v := range ev.Detail {
			if v == "" {
				delete(ev.Detail, k)
			}
		}
		if err := svc.RecordAudit(context.WithoutCancel(ctx), ev); err != nil {
			log.ErrorContext(ctx, "audit token decision", "client", d.ClientID, "err", err)
		}
	}
}
