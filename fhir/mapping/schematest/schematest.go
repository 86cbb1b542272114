// Package schematest validates FHIR R4 JSON against the official FHIR R4
// JSON schema (fhir/testdata/fhir.schema.json) in tests of the fhir
// packages. It is test support only: no production code may import it.
package schematest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validator checks resources against the schema definition of their
// resourceType. It is safe for concurrent use.
type Validator struct {
	compiler *jsonschema.Compiler
	url      string
	mu       sync.Mutex
	byType   map[string]*jsonschema.Schema
}

// SchemaPath is the location of fhir.schema.json in the repository.
func SchemaPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "fhir.schema.json")
}

// shared is the one Validator of a test binary: compiling the schema takes
// seconds (a contained resource may be any of the 146 R4 resources), so
// every test in the binary reuses it.
var shared = sync.OnceValues(load)

// New returns the test binary's Validator; it fails tb when the schema
// cannot be loaded.
func New(tb testing.TB) *Validator {
	tb.Helper()
	v, err := shared()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func load() (*Validator, error) {
	path := SchemaPath()
	c := jsonschema.NewCompiler()
	url, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("schematest: %w", err)
	}
	url = "file://" + filepath.ToSlash(url)
	if _, err := c.Compile(url + "#/definitions/ResourceList"); err != nil {
		return nil, fmt.Errorf("schematest: compile %s: %w", path, err)
	}
	return &Validator{compiler: c, url: url, byType: map[string]*jsonschema.Schema{}}, nil
}

// Validate fails tb with every schema violation of doc, which must be a
// FHIR resource with a resourceType.
func (v *Validator) Validate(tb testing.TB, doc []byte) {
	tb.Helper()
	if err := v.Check(doc); err != nil {
		tb.Errorf("schematest: invalid FHIR R4: %v\n%s", err, doc)
	}
}

// Check returns the schema violations of doc, or nil when it validates.
func (v *Validator) Check(doc []byte) error {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	s, err := v.schema(head.ResourceType)
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

func (v *Validator) schema(typ string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.byType[typ]; ok {
		return s, nil
	}
	s, err := v.compiler.Compile(v.url + "#/definitions/" + typ)
	if err != nil {
		return nil, err
	}
	v.byType[typ] = s
	return s, nil
}
