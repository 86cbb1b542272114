package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// verbsOf reads the verbs a group's help lists ("" for a leaf).
func verbsOf(help string) []string {
	m := regexp.MustCompile(`(?m)^verbs: (.+)$`).FindStringSubmatch(help)
	if m == nil {
		return nil
	}
	return strings.Split(m[1], ", ")
}

// TestHelpEveryCommand walks the command table: every command and every
// verb of a group answers -h, --help and `gateway help ...` on standard
// output with status 0, runs nothing (the data directory is not created),
// and a group without a verb is a usage error (status 2) naming its verbs.
func TestHelpEveryCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	leaves := 0
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			out, errs, code := gw(t, dir, c.name, "-h")
			if code != 0 || errs != "" || !strings.HasPrefix(out, "usage: gateway "+c.name) {
				t.Fatalf("%s -h: status %d, stdout %q, stderr %q", c.name, code, out, errs)
			}
			for _, form := range [][]string{{c.name, "--help"}, {"help", c.name}} {
				again, _, code := gw(t, dir, form...)
				if code != 0 || again != out {
					t.Fatalf("%v: status %d, output differs from -h:\n%s", form, code, again)
				}
			}
			verbs := verbsOf(out)
			if verbs == nil {
				leaves++
				return
			}
			_, errs, code = gw(t, dir, c.name)
			if code != 2 || !strings.Contains(errs, "missing verb") || !strings.Contains(errs, verbs[0]) {
				t.Fatalf("%s without a verb: status %d, stderr %q", c.name, code, errs)
			}
			for _, v := range verbs {
				out, errs, code := gw(t, dir, c.name, v, "-h")
				if code != 0 || errs != "" || !strings.HasPrefix(out, "usage: gateway "+c.name+" "+v) {
					t.Fatalf("%s %s -h: status %d, stdout %q, stderr %q", c.name, v, code, out, errs)
				}
				for _, form := range [][]string{{c.name, v, "--help"}, {"help", c.name, v}} {
					again, _, code := gw(t, dir, form...)
					if code != 0 || again != out {
						t.Fatalf("%v: status %d, output differs from -h:\n%s", form, code, again)
					}
				}
				leaves++
			}
		})
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("asking for help touched the data directory: %v", err)
	}
	if leaves < len(commands()) {
		t.Fatalf("only %d leaves walked", leaves)
	}
}

// TestHelpShowsOnlyFlagsThatApply checks leaves' flag lists against the
// settings each one reads.
func TestHelpShowsOnlyFlagsThatApply(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"audit", "verify"}, []string{"-db", "-data"}, []string{"-baa-warning", "-hisp", "-fax-vendor", "-direct-domain"}},
		{[]string{"directory", "list"}, []string{"-baa-warning", "-search"}, []string{"-actor", "-hisp"}},
		{[]string{"directory", "add"}, []string{"-actor", "-npi"}, []string{"-baa-warning", "-search"}},
		{[]string{"referral", "create"}, []string{"-file", "-direct-domain", "-fax-vendor"}, []string{"-smtp", "-http"}},
		{[]string{"referral", "show"}, []string{"-db"}, []string{"-direct-domain", "-fax-vendor", "-baa-warning"}},
		{[]string{"serve"}, []string{"-http", "-smtp", "-direct-certs directory"}, []string{"gateway certs dev`"}},
		{[]string{"demo"}, []string{"-db", "-keep-dir"}, []string{"-data", "-baa-warning"}},
		{[]string{"certs", "dev"}, []string{"-data", "-domain"}, []string{"-db", "-baa-warning"}},
		{[]string{"version"}, []string{"-json"}, []string{"-db", "-data"}},
	} {
		out, _, code := gw(t, dir, append(tc.args, "-h")...)
		if code != 0 {
			t.Fatalf("%v -h: status %d", tc.args, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, "  "+w) && !strings.Contains(out, w) {
				t.Errorf("%v -h lacks %q:\n%s", tc.args, w, out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, "  "+n+" ") || strings.Contains(out, "  "+n+"\n") || strings.Contains(out, n+"`") {
				t.Errorf("%v -h shows %q, which does not apply:\n%s", tc.args, n, out)
			}
		}
	}
}

func TestUsageErrorsAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string // on stderr
	}{
		{nil, 2, "no command given"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"help", "bogus"}, 2, `unknown command "bogus"`},
		{[]string{"directory", "frob"}, 2, `unknown subcommand "frob"`},
		{[]string{"audit", "verify", "--nope"}, 2, "run `gateway audit verify -h`"},
		{[]string{"version", "extra"}, 2, "no arguments"},
	} {
		_, errs, code := gw(t, dir, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: status %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
	out, _, code := gw(t, dir, "--help")
	if code != 0 || !strings.Contains(out, "exit status: 0 success") {
		t.Fatalf("--help: %d %q", code, out)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := gw(t, t.TempDir(), "version")
	if code != 0 || !strings.HasPrefix(out, "gateway ") || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, "commit ") {
		t.Fatalf("version: %d %q", code, out)
	}
	out, _, code = gw(t, t.TempDir(), "version", "--json")
	if code != 0 || !strings.Contains(out, `"goVersion": "`+runtime.Version()+`"`) {
		t.Fatalf("version --json: %d %q", code, out)
	}
}
