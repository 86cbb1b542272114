package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand. A group (directory, referral, audit, ...)
// picks its verb with sub; a leaf parses its flags with newFlags and
// parse. Either way `-h` and `gateway help <command>` work without more
// code: sub and parse return a helpRequest that run prints.
type command struct {
	name, args, help string
	run              func(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "", "run the gateway: HTTP API, health and metrics, delivery workers", cmdServe},
		{"migrate", "", "apply the embedded database migrations and exit", cmdMigrate},
		{"directory", "add|list|show|set-baa|verify|check|import|export ...", "edit the recipient channel directory; ask for a check of every entry's channels now", cmdDirectory},
		{"consent", "add ...", "put an authorization or Part 2 consent on file", cmdConsent},
		{"referral", "create|submit|show|list|transition|answer|override|replace|reverse|receipt ...", "create and follow referrals; refer back or onward; print a compliance receipt", cmdReferral},
		{"report", "referrals --practice P [--from D] [--to D] [--format table|csv|json]", "practice reports: volumes, response times, exceptions, what is still open", cmdReport},
		{"audit", "verify|export|checkpoint|prove|key", "verify the trail against its witnessed checkpoints, prove an entry, export it as FHIR AuditEvents", cmdAudit},
		{"witness", "serve --log-key KEY [--listen ADDR] [--dir DIR]", "run a C2SP tlog-witness for gateways' audit checkpoints", cmdWitness},
		{"admin", "create --name N (--practice ID | --gateway) [--role R]", "create a console account (password on stdin; prints the TOTP enrolment URI)", cmdAdmin},
		{"keys", "status|rotate [--keep-retired]", "show which key-encryption key wraps the data keys; rotate it", cmdKeys},
		{"certs", "dev --domain D [--address A ...] [--out DIR] | check ADDRESS", "write a DEVELOPMENT CA and Direct certificates; check what a Direct address publishes", cmdCerts},
		{"inbox", "list [--state S] [--json] | show ID | release|reject ID --reason R", "received Direct mail: the inbox and the quarantine", cmdInbox},
		{"client", "add --org ID --jwks FILE --scope S [--id ID]", "register an EHR's SMART backend client", cmdClient},
		{"demo", "[--keep-dir DIR] [--db URL]", "run a whole referral network on loopback and show it working", cmdDemo},
		{"bench", "--channel fhir|direct|fax|all --referrals N ...", "drive referrals through the loopback network and measure", cmdBench},
		{"faxsim", "[--listen ADDR] [--behavior NUMBER=OUTCOME ...]", "run the fax vendor EMULATOR (Phaxio API, signed callbacks) on its own", cmdFaxsim},
		{"config", "check", "validate the configuration file and print the effective settings, secrets masked", cmdConfig},
		{"version", "", "print the module version, commit and Go version", cmdVersion},
	}
}

// Exit statuses, the same for every command.
const (
	exitOK      = 0 // success
	exitFailure = 1 // failure, including a broken audit trail
	exitUsage   = 2 // the command line is wrong
	exitRefused = 3 // refused by a rule: consent, BAA, minimum necessary, routing, transition, conflict
)

const exitCodesText = `exit status: 0 success, 1 failure (including a broken audit trail),
2 usage error, 3 refused by a rule (consent, BAA, minimum necessary,
routing, an illegal transition, a version conflict or a duplicate).`

// run is the whole program: it parses args and runs one subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return usagef("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return nil
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return nil
		}
		// `gateway help directory add` is `gateway directory add -h`.
		args = append(append([]string{}, args[1:]...), "-h")
	}
	args, file, err := configFlag(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		usage(stderr)
		return usagef("no command given")
	}
	for _, c := range commands() {
		if c.name == args[0] {
			cfg, src, loadErr := loadConfig(file)
			cfg.sources = src
			if loadErr != nil && !wantsHelp(args) && c.name != "config" {
				return loadErr
			}
			cfg.loadErr = loadErr
			err := c.run(ctx, cfg, args[1:], stdout, stderr)
			var h *helpRequest
			if errors.As(err, &h) {
				return h.print(c, stdout, stderr)
			}
			return err
		}
	}
	usage(stderr)
	return usagef("unknown command %q", args[0])
}

// configFlag takes --config FILE (or --config=FILE) out of args, wherever
// it stands: the file is read before any command parses its flags.
func configFlag(args []string) ([]string, string, error) {
	var out []string
	file := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--config" || a == "-config":
			if i+1 >= len(args) {
				return nil, "", usagef("--config needs a file")
			}
			file = args[i+1]
			i++
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			file = a[strings.Index(a, "=")+1:]
		default:
			out = append(out, a)
		}
	}
	return out, file, nil
}

// wantsHelp reports whether args ask for help anywhere.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gateway <command> [arguments] [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.help)
	}
	fmt.Fprintf(w, "\nRun `gateway help <command>` (or `gateway <command> -h`) for a command's verbs and flags.\n"+
		"With no --db everything lives in ./gateway-data/.\n\n"+
		"Settings come from built-in defaults, then the configuration file (--config FILE, else\n"+
		"GATEWAY_CONFIG, else ./gateway.toml when present), then GATEWAY_* environment variables,\n"+
		"then flags. `gateway config check` shows the result (docs/operations.md lists the keys).\n\n%s\n", exitCodesText)
}

// helpRequest ends a command whose user asked for help (-h, --help, or
// `gateway help <command>`), or named no verb of a group. run prints it.
type helpRequest struct {
	fs      *flag.FlagSet // a leaf's flags, or nil for a group
	verbs   []string      // a group's verbs
	missing bool          // no verb given: print to stderr and exit 2
}

func (h *helpRequest) Error() string {
	if h.missing {
		return "missing subcommand: one of " + strings.Join(h.verbs, ", ")
	}
	return "help requested"
}

// print writes the help of c (or of one of its verbs) and returns the
// error run ends with: nil when help was asked for.
func (h *helpRequest) print(c command, stdout, stderr io.Writer) error {
	w := stdout
	if h.missing {
		w = stderr
	}
	if h.fs == nil {
		fmt.Fprintf(w, "usage: gateway %s <verb> [arguments] [flags]\n\n%s.\n\nverbs: %s\n\nRun `gateway help %s <verb>` for a verb's flags.\n",
			c.name, c.help, strings.Join(h.verbs, ", "), c.name)
		if h.missing {
			return usagef("%s: missing verb: one of %s", c.name, strings.Join(h.verbs, ", "))
		}
		return nil
	}
	name := strings.TrimPrefix(h.fs.Name(), "gateway ")
	if name == c.name { // a command without verbs
		fmt.Fprintf(w, "usage: gateway %s %s\n\n%s.\n\n", name, strings.TrimSpace(c.args+" [flags]"), c.help)
	} else {
		fmt.Fprintf(w, "usage: gateway %s [arguments] [flags]\n\n", name)
	}
	n := 0
	h.fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		fmt.Fprintln(w, "no flags.")
		return nil
	}
	fmt.Fprintln(w, "flags (-name and --name are the same):")
	h.fs.SetOutput(w)
	h.fs.PrintDefaults()
	h.fs.SetOutput(io.Discard)
	return nil
}

// newFlags makes a flag set for a subcommand that reports errors instead
// of exiting, with the configuration flags of the given groups registered
// (with none, the store flags --db and --data). Parse errors and help are
// printed by run, not by the flag package.
func newFlags(name string, cfg *Config, stderr io.Writer, groups ...flagGroup) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if len(groups) == 0 {
		groups = []flagGroup{storeFlags}
	}
	for _, g := range groups {
		cfg.register(fs, g)
	}
	return fs
}

// parse parses flags that may stand before or after the positional
// arguments ("directory verify ID --method ..."), turning flag errors into
// usage errors. The positional arguments are left in fs.Args().
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return &helpRequest{fs: fs}
			}
			return usagef("%s: %v (run `%s -h` for its flags)", strings.TrimPrefix(fs.Name(), "gateway "), err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// sub splits "directory add ..." into the verb and its args. "-h",
// "--help" or "help" in place of the verb asks for the group's help.
func sub(args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, &helpRequest{verbs: verbs, missing: true}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return "", nil, &helpRequest{verbs: verbs}
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, usagef("unknown subcommand %q: one of %s", args[0], strings.Join(verbs, ", "))
}

// readInput reads a file argument, "-" meaning standard input.
func readInput(path string) ([]byte, error) {
	if path == "" {
		return nil, usagef("--file is required")
	}
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
