package mapping

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/referralgw/gateway/gateway"
)

// SystemDelivery identifies a pushed Task by the gateway delivery that sent
// it, so that a resend is recognised by conditional create.
const SystemDelivery = "urn:referralgw:delivery"

// Submission is a new referral read from FHIR input.
type Submission struct {
	// Referral is the input for gateway.Service.CreateReferral. Submit is
	// set when the Task asked for status requested. Requester.OrgID is
	// empty when the Task named no requester; the caller fills it in.
	Referral gateway.NewReferral
	// IfNoneExist is the conditional-create criteria of the Task entry of a
	// transaction, if it had one.
	IfNoneExist string
	// Entries describes each transaction entry in order, for the
	// transaction-response; empty for a single Task.
	Entries []Entry
}

// Entry is what became of one transaction entry: the resource type, and
// for a DocumentReference or Binary the index of the record it carries in
// Referral.Records (-1 otherwise).
type Entry struct {
	Type   string
	Record int
}

// transactionTypes are the resources a referral transaction may carry;
// each becomes part of the stored referral.
var transactionTypes = []string{"Task", "ServiceRequest", "Patient", "Practitioner", "Consent", "DocumentReference", "Binary"}

// ParseTransaction reads a transaction Bundle holding a Task, its focus
// ServiceRequest, the Patient, and optionally a Practitioner, a Consent and
// DocumentReference/Binary pairs for the records. Resources may also be
// contained in the ServiceRequest or Task.
func ParseTransaction(data []byte) (*Submission, error) {
	root, err := parseNode(data, "Bundle", nil)
	if err != nil {
		return nil, err
	}
	if root.typ != "Bundle" {
		return nil, invalid("Bundle.resourceType", "expected Bundle, found %s", root.typ)
	}
	var b struct {
		Type  string `json:"type"`
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
			Request  *struct {
				Method      string `json:"method"`
				URL         string `json:"url"`
				IfNoneExist string `json:"ifNoneExist"`
			} `json:"request"`
		} `json:"entry"`
	}
	if err := root.decode(&b); err != nil {
		return nil, err
	}
	if b.Type != "transaction" {
		return nil, invalid("Bundle.type", "must be transaction, not %q", b.Type)
	}
	p := &pool{byURL: map[string]*node{}}
	var task *node
	var nodes []*node
	ifNoneExist := ""
	for i, e := range b.Entry {
		path := fmt.Sprintf("Bundle.entry[%d].resource", i)
		if len(e.Resource) == 0 {
			return nil, invalid(path, "required")
		}
		n, err := parseNode(e.Resource, path, nil)
		if err != nil {
			return nil, err
		}
		if e.Request == nil || e.Request.Method != "POST" {
			return nil, invalid(fmt.Sprintf("Bundle.entry[%d].request.method", i),
				"only POST (create) entries are accepted: a referral transaction creates a new referral, it does not update or delete resources")
		}
		if !slices.Contains(transactionTypes, n.typ) {
			return nil, invalid(path, "a %s is not stored with a referral; a referral transaction carries %s",
				n.typ, strings.Join(transactionTypes, ", "))
		}
		p.add(n, e.FullURL)
		nodes = append(nodes, n)
		if n.typ == "Task" {
			if task != nil {
				return nil, invalid(path, "a referral transaction carries exactly one Task")
			}
			task = n
			ifNoneExist = e.Request.IfNoneExist
		}
	}
	if task == nil {
		return nil, invalid("Bundle.entry", "no Task: a referral transaction carries one Task whose focus is the ServiceRequest")
	}
	task.used = true
	s, err := assemble(p, task)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if !n.used {
			return nil, invalid(n.path, "not part of the referral: nothing in the Task or its ServiceRequest references this %s, so it would not be stored", n.typ)
		}
		s.Entries = append(s.Entries, Entry{Type: n.typ, Record: n.record - 1})
	}
	s.IfNoneExist = ifNoneExist
	return s, nil
}

// ParseTask reads a single Task whose focus ServiceRequest, Patient and
// other resources are contained in it.
func ParseTask(data []byte) (*Submission, error) {
	n, err := parseNode(data, "Task", nil)
	if err != nil {
		return nil, err
	}
	return assemble(nil, n)
}

// assemble builds the NewReferral from a Task and what it references.
func assemble(p *pool, task *node) (*Submission, error) {
	var t Task
	if err := task.decode(&t); err != nil {
		return nil, err
	}
	var n gateway.NewReferral
	switch gateway.Status(t.Status) {
	case gateway.StatusDraft:
	case gateway.StatusRequested:
		n.Submit = true
	default:
		return nil, invalid(task.path+".status", "a new referral is created as draft or requested, not %q", t.Status)
	}
	if t.Intent != "order" {
		return nil, invalid(task.path+".intent", "must be order")
	}
	var err error
	if n.Identifier, err = businessIdentifier(task.path, t.Identifier); err != nil {
		return nil, err
	}
	if t.Requester != nil {
		org := partyID(t.Requester, "Organization")
		if org == "" {
			return nil, invalid(task.path+".requester", "must reference the requesting Organization")
		}
		n.Requester.OrgID = org
	}
	if t.Owner != nil {
		n.ReceiverID = partyID(t.Owner, "Organization", "Practitioner", "PractitionerRole")
	}
	if t.Focus == nil {
		return nil, invalid(task.path+".focus", "required: the ServiceRequest the Task fulfils")
	}
	srNode := p.resolve(task, str(t.Focus.Reference))
	if srNode == nil || srNode.typ != "ServiceRequest" {
		return nil, invalid(task.path+".focus", "must reference a ServiceRequest in the same request")
	}
	var sr fhir.ServiceRequest
	if err := srNode.decode(&sr); err != nil {
		return nil, err
	}
	if got := sr.Intent.Code(); got != "order" {
		return nil, invalid(srNode.path+".intent", "must be order, not %q", got)
	}
	if n.ReceiverID == "" && len(sr.Performer) > 0 {
		n.ReceiverID = partyID(&sr.Performer[0], "Organization", "Practitioner", "PractitionerRole")
	}
	if n.ReceiverID == "" {
		return nil, invalid(task.path+".owner", "required: the receiving party (a directory Organization or Practitioner)")
	}
	if err := readOrder(p, srNode, &sr, &n); err != nil {
		return nil, err
	}
	if n.Order, err = captureOrder(p, srNode); err != nil {
		return nil, err
	}
	if sr.Priority == nil && t.Priority != "" {
		n.Priority = gateway.Priority(t.Priority)
	}
	readSecurity(t.Meta, &n.Sensitive)
	return &Submission{Referral: n}, nil
}

// readOrder reads what the ServiceRequest carries into n: patient,
// requester, reason, priority, security labels, consent and records.
func readOrder(p *pool, srNode *node, sr *fhir.ServiceRequest, n *gateway.NewReferral) error {
	var err error
	if n.Patient, err = readPatient(p, srNode, sr.Subject); err != nil {
		return err
	}
	if err := readRequester(p, srNode, sr.Requester, &n.Requester); err != nil {
		return err
	}
	if len(sr.ReasonCode) == 0 || conceptCoding(&sr.ReasonCode[0]).Code == "" {
		return invalid(srNode.path+".reasonCode", "required: a coded reason for referral")
	}
	n.Reason = conceptCoding(&sr.ReasonCode[0])
	for _, note := range sr.Note {
		if str(note.Id) == NoteReason || (note.Id == nil && n.ReasonText == "") {
			n.ReasonText = note.Text
		}
	}
	if sr.Priority != nil {
		n.Priority = gateway.Priority(sr.Priority.Code())
	}
	readSecurity(sr.Meta, &n.Sensitive)
	n.Consent = gateway.ConsentRef{Kind: gateway.ConsentTreatment}
	seen := map[*node]bool{}
	consentFound := false
	for i, info := range sr.SupportingInfo {
		target := p.resolve(srNode, str(info.Reference))
		expr := fmt.Sprintf("%s.supportingInfo[%d]", srNode.path, i)
		if target == nil {
			if refID(str(info.Reference), "DocumentReference") != "" {
				return invalid(expr, "the referenced DocumentReference is not in the request")
			}
			continue
		}
		switch target.typ {
		case "Consent":
			if consentFound {
				return invalid(expr, "one Consent per referral")
			}
			if n.Consent, err = readConsent(target); err != nil {
				return err
			}
			consentFound = true
		case "DocumentReference":
			if seen[target] {
				continue
			}
			seen[target] = true
			rec, err := readRecord(p, target, len(n.Records)+1)
			if err != nil {
				return err
			}
			n.Records = append(n.Records, rec)
		}
	}
	if !consentFound && p != nil {
		for _, c := range p.byURL {
			if c.typ == "Consent" && !seen[c] {
				if n.Consent, err = readConsent(c); err != nil {
					return err
				}
				seen[c] = true
				c.used = true
				break
			}
		}
	}
	return nil
}

// partyID reads a directory id from a reference "Type/id" of one of the
// types, or from a logical reference by directory identifier.
func partyID(r *fhir.Reference, types ...string) string {
	for _, typ := range types {
		if id := refID(str(r.Reference), typ); id != "" {
			return id
		}
	}
	if r.Identifier != nil && str(r.Identifier.System) == SystemDirectory {
		return str(r.Identifier.Value)
	}
	return ""
}

func readPatient(p *pool, from *node, subject fhir.Reference) (gateway.Patient, error) {
	target := p.resolve(from, str(subject.Reference))
	if target == nil {
		if subject.Identifier != nil && str(subject.Identifier.Value) != "" {
			return gateway.Patient{ID: str(subject.Identifier.Value), System: str(subject.Identifier.System)}, nil
		}
		return gateway.Patient{}, invalid(from.path+".subject", "must reference a Patient in the request, or identify one")
	}
	if target.typ != "Patient" {
		return gateway.Patient{}, invalid(from.path+".subject", "must reference a Patient, not a %s", target.typ)
	}
	var pt fhir.Patient
	if err := target.decode(&pt); err != nil {
		return gateway.Patient{}, err
	}
	var out gateway.Patient
	for _, id := range pt.Identifier {
		if str(id.Value) != "" {
			out.ID, out.System = str(id.Value), str(id.System)
			break
		}
	}
	if out.ID == "" {
		return out, invalid(target.path+".identifier", "required: the referring practice's patient identifier (MRN)")
	}
	if len(pt.Name) > 0 {
		out.FamilyName = str(pt.Name[0].Family)
		out.GivenName = strings.Join(pt.Name[0].Given, " ")
	}
	out.BirthDate = str(pt.BirthDate)
	if pt.Gender != nil {
		out.Gender = pt.Gender.Code()
	}
	return out, nil
}

func readRequester(p *pool, from *node, r *fhir.Reference, q *gateway.Requester) error {
	if r == nil {
		return nil
	}
	if org := partyID(r, "Organization"); org != "" {
		if q.OrgID != "" && q.OrgID != org {
			return invalid(from.path+".requester", "names organization %s but the Task's requester is %s", org, q.OrgID)
		}
		q.OrgID = org
		return nil
	}
	target := p.resolve(from, str(r.Reference))
	if target == nil {
		if id := refID(str(r.Reference), "Practitioner"); id != "" {
			q.PractitionerID = id
			return nil
		}
		return invalid(from.path+".requester", "must reference a Practitioner in the request, a directory Practitioner or the Organization")
	}
	if target.typ != "Practitioner" {
		return invalid(from.path+".requester", "must reference a Practitioner or Organization, not a %s", target.typ)
	}
	var pr fhir.Practitioner
	if err := target.decode(&pr); err != nil {
		return err
	}
	for _, id := range pr.Identifier {
		switch str(id.System) {
		case SystemDirectory:
			q.PractitionerID = str(id.Value)
		case SystemNPI:
			q.NPI = str(id.Value)
		}
	}
	if len(pr.Name) > 0 {
		if q.Name = str(pr.Name[0].Text); q.Name == "" {
			q.Name = strings.TrimSpace(strings.Join(pr.Name[0].Given, " ") + " " + str(pr.Name[0].Family))
		}
	}
	for _, tc := range pr.Telecom {
		if tc.System != nil && *tc.System == fhir.ContactPointSystemPhone {
			q.Phone = str(tc.Value)
			break
		}
	}
	return nil
}

func readSecurity(m *fhir.Meta, s *gateway.Sensitivity) {
	if m == nil {
		return
	}
	for _, c := range m.Security {
		if str(c.System) != SystemActCode {
			continue
		}
		switch str(c.Code) {
		case labelPart2:
			s.Part2 = true
		case labelBehavioral:
			s.BehavioralHealth = true
		case labelPsychotherapy:
			s.PsychotherapyNotes = true
		}
	}
}

func readConsent(n *node) (gateway.ConsentRef, error) {
	var c fhir.Consent
	if err := n.decode(&c); err != nil {
		return gateway.ConsentRef{}, err
	}
	var out gateway.ConsentRef
	if c.PolicyRule != nil {
		for _, cd := range c.PolicyRule.Coding {
			switch str(cd.System) {
			case SystemConsentBasis:
				out.Kind = gateway.ConsentKind(str(cd.Code))
			case SystemCitation:
				out.Citation = str(cd.Code)
			}
		}
	}
	if out.Kind == "" {
		return out, invalid(n.path+".policyRule", "required: the disclosure basis coded in %s", SystemConsentBasis)
	}
	for _, id := range c.Identifier {
		if str(id.System) == SystemConsentRecord {
			out.ConsentID = str(id.Value)
		}
	}
	if c.Provision != nil {
		for _, pc := range c.Provision.Purpose {
			if str(pc.System) == SystemPurposeOfUse {
				out.Purpose = str(pc.Code)
			}
		}
	}
	return out, nil
}

// readRecord reads a DocumentReference (and the Binary it points at) as
// the record numbered index (1-based) of the referral.
func readRecord(p *pool, n *node, index int) (gateway.NewRecord, error) {
	n.record = index
	var d fhir.DocumentReference
	if err := n.decode(&d); err != nil {
		return gateway.NewRecord{}, err
	}
	if len(d.Content) != 1 {
		return gateway.NewRecord{}, invalid(n.path+".content", "exactly one attachment per record")
	}
	a := d.Content[0].Attachment
	rec := gateway.NewRecord{Title: str(a.Title), ContentType: str(a.ContentType)}
	if rec.Title == "" {
		rec.Title = str(d.Description)
	}
	expr := n.path + ".content[0].attachment"
	data := str(a.Data)
	if data == "" {
		bin := p.resolve(n, str(a.Url))
		if bin == nil || bin.typ != "Binary" {
			return rec, invalid(expr, "needs data or a url to a Binary in the request")
		}
		var b fhir.Binary
		if err := bin.decode(&b); err != nil {
			return rec, err
		}
		bin.record = index
		data = str(b.Data)
		if rec.ContentType == "" {
			rec.ContentType = b.ContentType
		}
		expr = bin.path + ".data"
	}
	content, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return rec, invalid(expr, "not base64")
	}
	rec.Content = content
	return rec, nil
}
