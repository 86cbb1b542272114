package admin_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

// exampleService opens a throwaway embedded store and the core over it.
func exampleService(ctx context.Context, dir string) (*gateway.Service, func()) {
	store, err := litestore.Open(ctx, filepath.Join(dir, "gateway.db"), storetest.FastQueue())
	if err != nil {
		panic(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := gateway.NewSealer(key)
	if err != nil {
		panic(err)
	}
	return gateway.NewService(store, sealer, nil, gateway.DefaultConfig(), nil), func() { store.Close() }
}

// Mount the admin server at /admin/, create an operator and see that the
// API refuses a request without a session, as problem+json.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "admin-example")
	defer os.RemoveAll(dir)
	svc, closeStore := exampleService(ctx, dir)
	defer closeStore()

	srv := admin.New(svc, admin.Config{Secure: true})
	if _, err := srv.CreateAccount(ctx, "oscar", "correct horse battery", admin.RoleOperator); err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", srv)
	ts := httptest.NewServer(mux)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/admin/v1/entries")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	// Output: 401 application/problem+json
}

// The first admin is created from the command line; the otpauth:// URI it
// returns is shown once as a QR code or text for an authenticator app.
func ExampleBootstrapAdmin() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "admin-example")
	defer os.RemoveAll(dir)
	svc, closeStore := exampleService(ctx, dir)
	defer closeStore()

	uri, err := admin.BootstrapAdmin(ctx, svc, "ada", "correct horse battery")
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := url.Parse(uri)
	q := u.Query()
	fmt.Println(u.Scheme, u.Host, u.Path)
	fmt.Println(q.Get("issuer"), q.Get("period"), q.Get("digits"), q.Get("algorithm"), len(q.Get("secret")) > 0)
	// Output:
	// otpauth totp /Referral Gateway:ada
	// Referral Gateway 30 6 SHA1 true
}
