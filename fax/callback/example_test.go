package callback_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/referralgw/gateway/fax/callback"
	"github.com/referralgw/gateway/fax/phaxio"
	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/sqlstore"
)

// ExampleHandler mounts the callback endpoint and shows how it answers a
// forged callback and a signed one about a fax the gateway never sent.
func ExampleHandler() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "faxcb")
	defer os.RemoveAll(dir)
	store, err := litestore.Open(ctx, filepath.Join(dir, "g.db"), sqlstore.DefaultQueueConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	sealer, _ := gateway.NewSealer(make([]byte, 32))
	svc := gateway.NewService(store, sealer, gateway.SystemClock{}, gateway.DefaultConfig(), nil)

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	public := srv.URL + "/fax/callback" // the URL the vendor is given and signs
	cbToken := []byte("synthetic-token")
	mux.Handle("POST /fax/callback", callback.Handler(svc, callback.Config{CallbackURL: public, Token: cbToken}))

	form := url.Values{"success": {"true"}, "direction": {"sent"}, "is_test": {"true"},
		"fax": {`{"id":1001,"status":"success","num_pages":3}`}}
	post := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, public, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(phaxio.SignatureHeader, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println("forged:", post(phaxio.SignCallback(public, form, nil, []byte("guess"))))
	fmt.Println("unknown fax:", post(phaxio.SignCallback(public, form, nil, cbToken)))
	// Output:
	// forged: 401
	// unknown fax: 404
}
