package pgstore_test

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/pgstore"
	"github.com/referralgw/gateway/gateway/pgstore/pgtest"
	"github.com/referralgw/gateway/gateway/storetest"
)

// plainOwnerSchema creates a login role that is neither a superuser nor
// BYPASSRLS (CREATEROLE only, to create the app role), as the owner of a
// managed PostgreSQL's database is, and a fresh schema it owns; it returns
// the URL that reaches the schema as that role. FORCE ROW LEVEL SECURITY
// binds such an owner, and with it the functions it defines as SECURITY
// DEFINER, where a superuser owner (the other tests') is not bound at all.
func plainOwnerSchema(t *testing.T) string {
	t.Helper()
	base := pgtest.FreshSchema(t, "gwtest_") // fails or skips like every PostgreSQL test
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	role := pgtest.RoleName(t, "gwtest_owner_") // dropping it drops the schema it owns
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE`,
		`ALTER SCHEMA ` + schema + ` OWNER TO ` + role,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	u.User = url.User(role)
	return u.String()
}

type noJobs struct{}

func (noJobs) HandleJob(context.Context, gateway.Job, gateway.JobMeta) error { return nil }

// TestPartnerReadsAreAnswersOnly: a practice that shares a referral with
// another (or has referred to it) used to read that practice's whole
// rows: every column of its FHIR subscriptions (client, criteria, status,
// error, delivery cursor, the sealed channel, which the gateway's own code
// then unseals in the reader's transaction) and every BAA of its
// practice. What the core needs there is an answer: the ids of the
// subscriptions a change of one referral notifies, and the BAA that gates
// a send. The app role acting for north now gets only those, through two
// functions (migration 031), and they hold whoever owns the schema: a
// superuser, whom row-level security does not bind, or an ordinary role,
// whom FORCE binds inside its SECURITY DEFINER functions too.
func TestPartnerReadsAreAnswersOnly(t *testing.T) {
	for _, owner := range []struct {
		name   string
		schema func(t *testing.T) string
	}{
		{"superuser owner", func(t *testing.T) string { return pgtest.FreshSchema(t, "gwtest_") }},
		{"ordinary owner", plainOwnerSchema},
	} {
		t.Run(owner.name, func(t *testing.T) { testPartnerReads(t, newWorldAt(t, owner.schema(t))) })
	}
}

func testPartnerReads(t *testing.T, w *world) {
	ctx := w.ctx
	asA := gateway.WithPractice(ctx, "north")
	asB := gateway.WithPractice(ctx, "south")
	all := gateway.GatewayWide(ctx, "test-count")
	// South follows the referrals it sends: refBA (south → north, shared
	// with north) and refB (south → east, not north's).
	subB, err := w.svc.CreateSubscription(asB, gateway.Subscription{OrgID: "south", ClientID: "ehr-south-sent",
		Status: gateway.SubscriptionActive, Criteria: gateway.SubscriptionCriteria{Param: "requester", OrgID: "south"},
		Endpoint: "https://ehr.south.example/sent", Header: []string{"Authorization: Bearer synthetic"},
		Delivery: gateway.SubscriptionDelivery{Start: w.clock.Now(), Cursor: w.clock.Now()}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	subIDs := func(org string) []string {
		var out []string
		w.view(t, all, func(tx gateway.Tx) error {
			subs, err := tx.ListSubscriptions(all, gateway.SubscriptionQuery{OrgID: org})
			for _, s := range subs {
				out = append(out, s.ID)
			}
			return err
		})
		return out
	}
	northSubs, eastSubs := subIDs("north"), subIDs("east")
	if len(northSubs) != 1 || len(eastSubs) != 1 {
		t.Fatalf("the world has subscriptions north %v, east %v; want one each", northSubs, eastSubs)
	}

	t.Run("subscription rows", func(t *testing.T) {
		if got, own := w.count(t, asA, "fhir_subscriptions", ""), w.count(t, all, "fhir_subscriptions", "org_id = 'north'"); got != own {
			t.Errorf("north reads %d subscription rows, its own are %d", got, own)
		}
		for _, id := range []string{subB.ID, eastSubs[0]} {
			if n := w.count(t, asA, "fhir_subscriptions", "id = $1", id); n != 0 {
				t.Errorf("north reads its partner's subscription %s", id)
			}
		}
		w.view(t, asA, func(tx gateway.Tx) error {
			_, err := tx.Subscription(asA, subB.ID, false)
			notFound(t, "Subscription of south's", err)
			subs, err := tx.ListSubscriptions(asA, gateway.SubscriptionQuery{})
			if err != nil {
				return err
			}
			for _, s := range subs {
				if s.OrgID != "north" {
					t.Errorf("north lists %s's subscription %s (endpoint unsealed: %v)", s.OrgID, s.ID, s.Endpoint != "")
				}
			}
			return nil
		})
	})

	t.Run("the match", func(t *testing.T) {
		for _, c := range []struct {
			what string
			ctx  context.Context
			r    *gateway.Referral
			want []string
		}{
			{"north on the referral south sent it", asA, w.refBA, append([]string{subB.ID}, northSubs...)},
			{"south on the same referral", asB, w.refBA, append([]string{subB.ID}, northSubs...)},
			{"north on its referral to east", asA, w.refA, eastSubs},
			// North shares referrals with south and east, but not this one.
			{"north on south's referral to east", asA, w.refB, nil},
			{"a gateway-wide path", all, w.refB, append([]string{subB.ID}, eastSubs...)},
		} {
			var got []string
			w.view(t, c.ctx, func(tx gateway.Tx) error {
				var err error
				got, err = tx.MatchSubscriptions(c.ctx, c.r)
				return err
			})
			slices.Sort(got)
			slices.Sort(c.want)
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: matched %v, want %v", c.what, got, c.want)
			}
		}
	})

	t.Run("notifications of the partner's subscriptions", func(t *testing.T) {
		// North, the receiver of refBA, records progress in its own
		// transaction: south's subscription is notified of it.
		w.svc.ServeSubscriptions(noJobs{})
		r, err := w.svc.UpdateProgress(asA, gateway.Actor{ID: "user:north", OrgID: "north"}, w.refBA.ID, "in-progress", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range append([]string{subB.ID}, northSubs...) {
			ref := id + "/" + r.ID + "/" + strconv.Itoa(r.Version)
			if n := w.count(t, all, "river_job", "args->>'ref' = $1", ref); n != 1 {
				t.Errorf("%d notification jobs %s queued, want 1", n, ref)
			}
		}
	})

	t.Run("BAA rows", func(t *testing.T) {
		// North refers to east: it reads east's BAA as the send gate needs
		// it, not east's rows.
		if got, want := w.count(t, asA, "baas", ""), w.count(t, all, "baas", "tenant IN ('north', 'gateway')"); got != want {
			t.Errorf("north reads %d BAA rows, its own and the vendors' are %d", got, want)
		}
		if n := w.count(t, asA, "baas", "party_id = 'east'"); n != 0 {
			t.Error("north reads east's BAA row")
		}
		var full *gateway.BAA
		w.view(t, all, func(tx gateway.Tx) error {
			full, err = tx.BAAForParty(all, "east")
			return err
		})
		w.view(t, asA, func(tx gateway.Tx) error {
			b, err := tx.BAAForParty(asA, "east")
			if err != nil {
				t.Fatalf("north's send gate cannot read east's BAA: %v", err)
			}
			if b.ID != full.ID || b.PartyID != "east" || b.State != full.State || !b.End.Equal(full.End) {
				t.Errorf("north reads east's BAA as %+v, want the id, state and end of %+v", b, full)
			}
			if b.Version != 0 || !b.Updated.IsZero() || !b.Start.IsZero() || b.Document != "" {
				t.Errorf("north reads more of east's BAA than the gate needs: %+v", b)
			}
			_, err = tx.BAAForParty(asA, "south")
			notFound(t, "BAAForParty of a practice it never referred to", err)
			list, err := tx.ListBAAs(asA)
			if err != nil {
				return err
			}
			var parties []string
			for _, b := range list {
				parties = append(parties, b.PartyID)
			}
			if !slices.Equal(parties, []string{"faxco", "north"}) {
				t.Errorf("north lists the BAAs of %v, want its own and the vendor's", parties)
			}
			return nil
		})
		// Its own BAA it reads whole.
		w.view(t, asA, func(tx gateway.Tx) error {
			b, err := tx.BAAForParty(asA, "north")
			if err != nil || b.Version != 1 || b.Updated.IsZero() {
				t.Errorf("north's own BAA: %+v, %v", b, err)
			}
			return nil
		})
		// The gate passes on the answer: a new referral to east is sent.
		w.create(t, "north", "east", "N-partner-gate")
	})

	t.Run("a gateway that runs as the owner", func(t *testing.T) {
		// Without an app role (one role migrates and serves), the owner's
		// sessions keep the partner rule: an ordinary owner is bound by the
		// policies, and its notifications and send gate still work.
		s, err := pgstore.Open(ctx, w.owner, storetest.FastQueue())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.View(asA, func(tx gateway.Tx) error {
			got, err := tx.MatchSubscriptions(asA, w.refBA)
			if err != nil {
				return err
			}
			if !slices.Contains(got, subB.ID) {
				t.Errorf("as the owner, north's change of the shared referral notifies %v, not south's %s", got, subB.ID)
			}
			if got, err := tx.MatchSubscriptions(asA, w.refB); err != nil || len(got) != 0 {
				t.Errorf("as the owner, north matches %v (%v) on a referral it is not part of", got, err)
			}
			if b, err := tx.BAAForParty(asA, "east"); err != nil || b.State != gateway.BAAActive {
				t.Errorf("as the owner, north's send gate reads east's BAA as %+v, %v", b, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the functions believe the caller token only", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, withoutCaller(t, w.appURL))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, sc := range []struct{ practice, path string }{{"north", ""}, {"south", ""}, {"", "subscriptions"}} {
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `SELECT set_config('gateway.practice', $1, true), set_config('gateway.scope', $2, true)`, sc.practice, sc.path); err != nil {
				t.Fatal(err)
			}
			var subs int
			var baa *string
			err = tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM gateway_referral_subscriptions($1)), gateway_partner_baa('east')`, w.refBA.ID).
				Scan(&subs, &baa)
			_ = tx.Rollback(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if subs != 0 || baa != nil {
				t.Errorf("the role's password alone, as %+v, learns %d subscription ids and east's BAA %v", sc, subs, baa)
			}
		}
	})
}
