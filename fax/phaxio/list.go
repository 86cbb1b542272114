package phaxio

import (
	"context"
	"net/url"
	"strconv"
)

// ListQuery filters the faxes List returns (Phaxio's "list faxes" call).
// Zero fields do not filter.
type ListQuery struct {
	// Tags keeps faxes carrying every one of these tag values; a resend
	// after a crash asks by the delivery's tag whether the first send was
	// accepted.
	Tags map[string]string
	// Direction is "sent" or "received".
	Direction string
	// PerPage bounds the reply (Phaxio's default is 20, its maximum 1000).
	PerPage int
}

// List returns the account's faxes that match q, newest first (the first
// page only).
func (c *Client) List(ctx context.Context, q ListQuery) ([]Fax, error) {
	const op = "list"
	v := url.Values{}
	for _, k := range sortedKeys(q.Tags) {
		v.Set("tag["+k+"]", q.Tags[k])
	}
	if q.Direction != "" {
		v.Set("direction", q.Direction)
	}
	if q.PerPage > 0 {
		v.Set("per_page", strconv.Itoa(q.PerPage))
	}
	path := "/v2.1/faxes"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var ws []wireFax
	if err := c.do(ctx, op, "GET", path, "", nil, &ws); err != nil {
		return nil, err
	}
	out := make([]Fax, len(ws))
	for i := range ws {
		out[i] = ws[i].toFax()
	}
	return out, nil
}
