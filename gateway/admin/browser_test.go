package admin_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
	"github.com/referralgw/gateway/gateway/storetest"
)

// chromium finds the browser; without one the test skips locally and
// fails in CI (CI=true), whose script installs Debian's chromium package.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed (apt-get install -y chromium); the console's browser test must run in CI")
	}
	t.Skip("Chromium not installed; set CI=true to make this a failure")
	return ""
}

// browser starts a headless Chromium for the test and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "admin-chromium-profile-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 90*time.Second)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(bctx) // closes the browser and waits for it
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
		// Chromium's helpers may still be flushing the profile; retry
		// until it is gone, within a bound.
		deadline := time.Now().Add(10 * time.Second)
		for os.RemoveAll(profile) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// TestConsoleInBrowser drives the console as an admin would: log in with
// a TOTP code, add a practice with a Direct address, move its BAA to
// active, find a referral and open its timeline.
func TestConsoleInBrowser(t *testing.T) {
	e := newEnv(t, storetest.Behavior{})
	e.seed()
	e.startWorkers()
	ref := e.referral("dr-heart", true)
	e.waitFor("the referral to be delivered", func() bool {
		_, ds, err := e.svc.Referral(e.ctx, ref.ID)
		return err == nil && len(ds) == 1 && ds[0].State == gateway.DeliveryDelivered
	})
	secret := e.account("ada", "correct horse battery", admin.RoleAdmin)
	patSecret := e.practiceAccount("clinic-a", "pat", "correct horse battery", admin.RoleOperator)
	ctx := browser(t)
	base := e.ts.URL

	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			var loc, page string
			_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Text("main", &page, chromedp.ByQuery))
			t.Fatalf("%s: %v (at %s: %.600s)", step, err, loc, page)
		}
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
		return s
	}

	// keep saves a screenshot of the current page to $ADMIN_SCREENSHOT_DIR,
	// for a person to look at, when that is set.
	keep := func(name string) {
		t.Helper()
		if dir := os.Getenv("ADMIN_SCREENSHOT_DIR"); dir != "" {
			var shot []byte
			run("screenshot "+name, chromedp.FullScreenshot(&shot, 100))
			if err := os.WriteFile(filepath.Join(dir, name), shot, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Log in with the keyboard only: the name field has focus, Tab moves
	// on, Enter submits.
	run("log in",
		chromedp.Navigate(base+"/admin/"),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.KeyEvent("ada"),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent("correct horse battery"),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(e.code(secret)),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(`nav[aria-label="Main"]`, chromedp.ByQuery),
	)
	if h := text("h1"); h != "Directory" {
		t.Fatalf("after login the page is %q", h)
	}

	// Add a practice with a Direct address.
	run("add practice",
		chromedp.Click(`a[href="/admin/directory/new"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#id`, chromedp.ByQuery),
		chromedp.SendKeys(`#id`, "derm-c", chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "Synthetic Dermatology Group", chromedp.ByQuery),
		chromedp.SendKeys(`#npi`, "1245319599", chromedp.ByQuery),
		chromedp.SendKeys(`input[name="direct.address"]`, "intake@direct.derm-c.example", chromedp.ByQuery),
		chromedp.Click(`form.card button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`p.notice`, chromedp.ByQuery),
	)
	if n := text("p.notice"); !strings.Contains(n, "Saved") {
		t.Fatalf("notice after adding: %q", n)
	}
	got, err := e.svc.Entry(e.ctx, "derm-c")
	if err != nil || got.Direct == nil || got.Direct.Address != "intake@direct.derm-c.example" {
		t.Fatalf("stored entry %+v, %v", got, err)
	}

	// Move its BAA to active.
	end := e.clock.Now().AddDate(1, 0, 0).Format(time.DateOnly)
	run("BAA to active",
		chromedp.Click(`a[href="/admin/baas"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#state-derm-c`, chromedp.ByQuery),
		chromedp.SetValue(`#state-derm-c`, "active", chromedp.ByQuery),
		chromedp.SetValue(`#end-derm-c`, end, chromedp.ByQuery),
		chromedp.SendKeys(`#document-derm-c`, "baa/derm-c-signed.pdf", chromedp.ByQuery),
		chromedp.Click(`#party-derm-c button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`p.notice`, chromedp.ByQuery),
	)
	keep("baas.png")
	if s := text(`#party-derm-c td .baa`); s != "active" {
		t.Fatalf("BAA board shows %q for derm-c", s)
	}
	var baa *gateway.BAA
	baas, _ := e.svc.BAAs(e.ctx)
	for _, b := range baas {
		if b.PartyID == "derm-c" {
			baa = b
		}
	}
	if baa == nil || baa.State != gateway.BAAActive || baa.End.Format(time.DateOnly) != end {
		t.Fatalf("stored BAA %+v", baa)
	}

	// Referrals belong to practices: log out and back in as clinic-a's
	// operator, then find the referral and open its timeline.
	run("log in as the practice",
		chromedp.Click(`form.who button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#name`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "pat", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "correct horse battery", chromedp.ByQuery),
		chromedp.SendKeys(`#code`, e.code(patSecret), chromedp.ByQuery),
		chromedp.Submit(`#code`, chromedp.ByQuery),
		chromedp.WaitVisible(`nav[aria-label="Main"]`, chromedp.ByQuery),
	)
	if who := text("form.who span"); !strings.Contains(who, "clinic-a") {
		t.Fatalf("signed-in line %q does not name the practice", who)
	}
	run("find referral",
		chromedp.Click(`a[href="/admin/referrals"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#receiver`, chromedp.ByQuery),
		chromedp.SendKeys(`#receiver`, "dr-heart", chromedp.ByQuery),
		chromedp.SetValue(`#status`, "received", chromedp.ByQuery),
		chromedp.Submit(`#receiver`, chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="/admin/referrals/`+ref.ID+`"]`, chromedp.ByQuery),
		chromedp.Click(`a[href="/admin/referrals/`+ref.ID+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#deliveries`, chromedp.ByQuery),
	)
	if h := text("h1"); h != "Referral "+ref.ID {
		t.Fatalf("timeline heading %q", h)
	}
	body := text("main")
	for _, want := range []string{"received", "delivered", "fhir", "referral.created"} {
		if !strings.Contains(body, want) {
			t.Errorf("timeline does not show %q", want)
		}
	}
	for _, phi := range []string{"Testpatient", "MRN-0001", "Atrial fibrillation", "1970-01-01"} {
		if strings.Contains(body, phi) {
			t.Errorf("timeline shows PHI %q", phi)
		}
	}
	var shot []byte
	run("screenshot", chromedp.FullScreenshot(&shot, 100))
	path := filepath.Join(t.TempDir(), "timeline.png")
	if err := os.WriteFile(path, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	keep("timeline.png")
	t.Logf("timeline screenshot: %s (%d bytes)", path, len(shot))
}
