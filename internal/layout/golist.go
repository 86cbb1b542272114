package layout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// listed is what `go list -json` prints of a package that the graph needs.
type listed struct {
	ImportPath   string
	Dir          string
	GoFiles      []string
	Standard     bool
	ForTest      string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// Load runs `go list -deps -test -json` over patterns in dir and returns
// the import graph: every package the module's code and tests reach, with
// the test imports of the module's own packages.
func Load(ctx context.Context, dir string, patterns ...string) (map[string]*Package, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-deps", "-test", "-json"}, patterns...)...)
	cmd.Dir = dir
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, stderr.String())
	}
	return Parse(&out)
}

// Parse reads the concatenated JSON objects `go list -json` prints. Test
// variants ("p [p.test]") and generated test mains are folded into the
// package they test.
func Parse(r io.Reader) (map[string]*Package, error) {
	graph := map[string]*Package{}
	dec := json.NewDecoder(r)
	for {
		var l listed
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		if strings.Contains(l.ImportPath, " [") || strings.HasSuffix(l.ImportPath, ".test") {
			continue // a test variant: its imports are the package's plus TestImports, read below
		}
		graph[l.ImportPath] = &Package{Path: l.ImportPath, Dir: l.Dir, GoFiles: l.GoFiles, Standard: l.Standard, Imports: l.Imports,
			TestImports: append(l.TestImports, l.XTestImports...)}
	}
	return graph, nil
}

// Sources reads the non-test Go files of the module's packages in graph.
func Sources(graph map[string]*Package) (map[string][]File, error) {
	out := map[string][]File{}
	for path, p := range graph {
		if rel(path) == "" {
			continue
		}
		for _, name := range p.GoFiles {
			full := filepath.Join(p.Dir, name)
			src, err := os.ReadFile(full)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", full, err)
			}
			out[path] = append(out[path], File{Name: full, Src: src})
		}
	}
	return out, nil
}
