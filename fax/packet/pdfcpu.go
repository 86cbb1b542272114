package packet

import (
	"bytes"
	"fmt"
	"io"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// pdfcpuConfig builds a pdfcpu configuration in memory. pdfcpu's own
// NewDefaultConfiguration installs a config directory under the user's home
// on first use; building the value here keeps this package free of that
// file-system side effect and of pdfcpu's package-level config state.
func pdfcpuConfig() *model.Configuration {
	return &model.Configuration{
		Version:                        model.VersionStr,
		CheckFileNameExt:               true,
		Reader15:                       true,
		ValidationMode:                 model.ValidationRelaxed,
		UnsupportedResourcePolicy:      model.UnsupportedResourceSkip,
		Eol:                            types.EolLF,
		WriteObjectStream:              true,
		WriteXRefStream:                true,
		EncryptUsingAES:                true,
		EncryptKeyLength:               256,
		Permissions:                    model.PermissionsPrint,
		TimestampFormat:                "2006-01-02 15:04",
		DateFormat:                     "2006-01-02",
		Optimize:                       true,
		OptimizeBeforeWriting:          true,
		OptimizeResourceDicts:          true,
		MergeBookmarkMode:              model.MergeBookmarkModeWrap,
		Offline:                        true,
		Timeout:                        5,
		TimeoutCRL:                     10,
		TimeoutOCSP:                    10,
		PreferredCertRevocationChecker: model.CRL,
		Limits:                         model.DefaultResourceLimits(),
	}
}

// PageCount returns the number of pages of a PDF document. Encrypted or
// malformed documents are refused with an error.
func PageCount(pdf []byte) (int, error) {
	n, err := api.PageCount(bytes.NewReader(pdf), pdfcpuConfig())
	if err != nil {
		return 0, fmt.Errorf("packet: page count: %w", err)
	}
	if n < 1 {
		return 0, fmt.Errorf("packet: page count: document has no pages")
	}
	return n, nil
}

// merge concatenates PDF documents page by page.
func merge(docs [][]byte) ([]byte, error) {
	if len(docs) == 1 {
		return docs[0], nil
	}
	rs := make([]io.ReadSeeker, len(docs))
	for i, d := range docs {
		rs[i] = bytes.NewReader(d)
	}
	var out bytes.Buffer
	if err := api.MergeRaw(rs, &out, false, pdfcpuConfig()); err != nil {
		return nil, fmt.Errorf("packet: merge: %w", err)
	}
	return out.Bytes(), nil
}
