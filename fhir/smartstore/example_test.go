package smartstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/referralgw/gateway/fhir/smart"
	"github.com/referralgw/gateway/fhir/smartstore"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// ExampleStore_Register registers an EHR's backend client for a practice and
// looks it up as the token endpoint does.
func ExampleStore_Register() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "smartstore-example")
	defer os.RemoveAll(dir)
	st, err := litestore.Open(ctx, filepath.Join(dir, "gw.db"), sqlstore.DefaultQueueConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	sealer, _ := gateway.NewSealer(make([]byte, 32))
	svc := gateway.NewService(st, sealer, gateway.SystemClock{}, gateway.DefaultConfig(), nil)

	ehrKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	jwks, _ := smart.PublicJWKS(smart.PublicKeyWithKID{KID: "ehr-key-1", Key: &ehrKey.PublicKey})
	store := smartstore.New(svc)
	if _, err := store.Register(ctx, "user:admin",
		smart.Client{ID: "ehr-7", OrgID: "clinic-a", Scopes: []string{"system/Task.rs", "system/Task.u"}}, jwks); err != nil {
		fmt.Println(err)
		return
	}
	back, _ := store.Client(ctx, "ehr-7")
	fmt.Println(back.ID, back.OrgID, back.Scopes, back.JWKS[0].KID)
	// Output: ehr-7 clinic-a [system/Task.rs system/Task.u] ehr-key-1
}
