package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/admin"
)

// cmdAdmin manages console accounts; `admin create` bootstraps the first.
func cmdAdmin(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if _, rest, err := sub(args, "create"); err != nil {
		return err
	} else {
		args = rest
	}
	fs := newFlags("admin create", &cfg, stderr)
	name := fs.String("name", "", "account name")
	role := fs.String("role", string(admin.RoleAdmin), "admin, operator or auditor")
	passwordFile := fs.String("password-file", "", "read the password from this file (default: the first line of standard input)")
	practice := fs.String("practice", "", "the practice (a top-level organization in the directory) the account belongs to")
	wide := fs.Bool("gateway", false, "a gateway-wide account: directory, vendors, BAAs, accounts and FHIR clients, no practice's referrals")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return usagef("--name is required")
	}
	if (*practice == "") == !*wide {
		return usagef("say whose account it is: --practice ID (one practice) or --gateway (gateway-wide)")
	}
	a, err := openApp(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	srv := admin.New(a.svc, admin.Config{})
	// A second run leaves an existing account as it is: its password and
	// TOTP secret are never replaced from the command line.
	if have, err := srv.Account(ctx, *name); err == nil {
		if have.Role != admin.Role(*role) {
			return fmt.Errorf("account %s exists with role %s, not %s; change roles in the console", *name, have.Role, *role)
		}
		if have.Practice != *practice {
			return fmt.Errorf("account %s exists for %s, not %s", *name, whose(have.Practice), whose(*practice))
		}
		fmt.Fprintf(stdout, "account %s (%s) exists: unchanged (password and TOTP secret kept)\n", *name, have.Role)
		return nil
	} else if !errors.Is(err, gateway.ErrNotFound) {
		return err
	}
	password, err := readPassword(*passwordFile, stderr)
	if err != nil {
		return err
	}
	var uri string
	if *practice != "" {
		uri, err = srv.CreatePracticeAccount(ctx, *practice, *name, password, admin.Role(*role))
	} else {
		uri, err = srv.CreateAccount(ctx, *name, password, admin.Role(*role))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "account %s (%s, %s) created.\nAdd this to an authenticator app (RFC 6238 TOTP); it is shown only once:\n%s\n",
		*name, *role, whose(*practice), uri)
	return nil
}

// whose names an account's practice for messages.
func whose(practice string) string {
	if practice == "" {
		return "gateway-wide"
	}
	return "practice " + practice
}

// readPassword reads a password from a file or the first line of stdin,
// never from the command line (where other users could see it). On a
// terminal it prompts on stderr and does not echo what is typed.
func readPassword(path string, stderr io.Writer) (string, error) {
	var r io.Reader = os.Stdin
	if path == "" && term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Fprint(stderr, "password (at least 12 characters): ")
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		r = strings.NewReader(string(b) + "\n")
	}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) < 12 {
		return "", usagef("the password must be at least 12 characters")
	}
	return line, nil
}
