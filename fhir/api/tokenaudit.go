package api

import (
	"context"
	"log/slog"
	"strings"

	"github.com/referralgw/gateway/audit"
	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/gateway"
)

// TokenAudit returns a smart.TokenServerConfig.OnDecision hook that audits
// every token endpoint decision: a granted token in the trail of the
// client's organisation (or fallbackTenant), with the client id, the
// scopes and the token's id; a refusal, whose client id is only what an
// unauthenticated caller claimed, in the gateway's own chain through
// Service.RecordEdge (aggregated per claimed client and reason), so nobody
// can write into a practice's trail by naming its client. Never the
// assertion or the token.
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
			code, _, _ := strings.Cut(d.Reason, ":")
			if err := svc.RecordEdge(context.WithoutCancel(ctx), gateway.EdgeEvent{Action: "auth.token.refused",
				Source: d.ClientID, Reason: code, Text: d.Reason}); err != nil {
				log.ErrorContext(ctx, "audit token refusal", "err", err)
			}
			return
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
