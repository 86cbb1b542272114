package gateway

import (
	"context"
	"iter"
	"time"

	"github.com/referralgw/gateway/audit"
)

// Store persists the core's state. Every write happens inside Update, so a
// referral change, its audit events and the jobs it queues commit together
// or not at all (the outbox). Implementations: gateway/pgstore (PostgreSQL,
// production) and gateway/litestore (embedded SQLite, the zero-set-up
// default); both pass gateway/storetest.
type Store interface {
	// Update runs fn in a read-write transaction and commits when fn
	// returns nil.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// AuditEntries streams audit entries ordered by (tenant, seq).
	AuditEntries(ctx context.Context, q AuditQuery) iter.Seq2[audit.Entry, error]
	// AuditHeads returns the last entry of every tenant's chain.
	AuditHeads(ctx context.Context) ([]audit.Entry, error)
	// AuditUnsequenced counts the audit events committed but not yet
	// sequenced into chains, and returns the time of the oldest (zero when
	// none).
	AuditUnsequenced(ctx context.Context) (int, time.Time, error)
	// AuditInclusion returns the entry (tenant, seq) and the proof that it
	// is leaf seq-1 of the tenant's tree of size leaves.
	AuditInclusion(ctx context.Context, tenant string, seq int64, size uint64) (audit.Entry, [][]byte, error)
	// StartWorkers begins running queued jobs with h until StopWorkers.
	StartWorkers(ctx context.Context, h JobHandler) error
	// StopWorkers stops taking jobs and waits for running ones; when ctx
	// ends first, running jobs are cancelled and retried later.
	StopWorkers(ctx context.Context) error
	// Ping checks that the database answers (readiness).
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Tx is one transaction's view of the store.
type Tx interface {
	InsertReferral(ctx context.Context, r *Referral) error
	// UpdateReferral stores r, whose Version the caller has incremented; it
	// fails with ErrConflict unless the stored version is r.Version-1.
	UpdateReferral(ctx context.Context, r *Referral) error
	// Referral loads one referral; lock holds it for update until commit.
	Referral(ctx context.Context, id string, lock bool) (*Referral, error)
	// ReferralByIdentifier finds a referral by the requester's business identifier.
	ReferralByIdentifier(ctx context.Context, requesterOrg, identifier string) (*Referral, error)
	// ReferralVersion loads a past version (FHIR _history).
	ReferralVersion(ctx context.Context, id string, version int) (*Referral, error)
	// ReferralVersions lists every stored version, oldest first.
	ReferralVersions(ctx context.Context, id string) ([]*Referral, error)
	ListReferrals(ctx context.Context, q ReferralQuery) ([]*Referral, error)
	// PracticeReport aggregates the report columns of q.Practice's referrals
	// (see Referral.ReportFacts); the service fills in the query fields.
	PracticeReport(ctx context.Context, q ReportQuery) (*PracticeReport, error)
	// ReferralPractice returns the requesting practice of a referral, and
	// DeliveryPractice that of a delivery's referral: the core reads them
	// on the named path PathResolve to know which practice to act as.
	ReferralPractice(ctx context.Context, referralID string) (string, error)
	DeliveryPractice(ctx context.Context, deliveryID string) (string, error)

	// PutRecordContent stores a record's sealed (encrypted) content.
	PutRecordContent(ctx context.Context, referralID string, rec Record, sealed []byte) error
	RecordContent(ctx context.Context, referralID, recordID string) ([]byte, error)
	// RecordReferral names the referral a record belongs to (record ids are
	// unique across referrals); ErrNotFound when there is none.
	RecordReferral(ctx context.Context, recordID string) (string, error)

	InsertDelivery(ctx context.Context, d *Delivery) error
	UpdateDelivery(ctx context.Context, d *Delivery) error
	Delivery(ctx context.Context, id string, lock bool) (*Delivery, error)
	Deliveries(ctx context.Context, referralID string) ([]*Delivery, error)
	DeliveryByRemoteID(ctx context.Context, channel ChannelKind, remoteID string) (*Delivery, error)

	// PutEntry inserts or updates a directory entry; on update e.Version
	// must be the stored version + 1 (ErrConflict otherwise).
	PutEntry(ctx context.Context, e *Entry) error
	Entry(ctx context.Context, id string) (*Entry, error)
	ListEntries(ctx context.Context, q EntryQuery) ([]*Entry, error)
	// PutEntryChecks replaces an entry's Checks without changing its
	// version (PutEntry neither stores nor clears them).
	PutEntryChecks(ctx context.Context, id string, checks []ChannelCheck) error

	// PutBAA inserts or updates the BAA of a party (one current BAA per party).
	PutBAA(ctx context.Context, b *BAA) error
	BAAForParty(ctx context.Context, partyID string) (*BAA, error)
	ListBAAs(ctx context.Context) ([]*BAA, error)

	PutConsent(ctx context.Context, c *ConsentRecord) error
	Consents(ctx context.Context, tenant, patientID string) ([]ConsentRecord, error)

	// PutDocument inserts (d.Version 1) or updates (d.Version = stored + 1,
	// ErrConflict otherwise) a small JSON record an edge keeps.
	PutDocument(ctx context.Context, d Document) error
	// InsertDocument inserts d and reports false, without error, when a
	// document of that kind and id already exists (first writer wins; used
	// for replay caches and idempotency keys).
	InsertDocument(ctx context.Context, d Document) (bool, error)
	Document(ctx context.Context, kind, id string) (Document, error)
	// Documents lists a kind's documents in id order, skipping expired ones.
	Documents(ctx context.Context, kind string, now time.Time) ([]Document, error)
	DeleteDocument(ctx context.Context, kind, id string) error
	// DeleteExpiredDocuments removes up to limit documents whose expiry is
	// at or before now, and says how many it removed.
	DeleteExpiredDocuments(ctx context.Context, now time.Time, limit int) (int, error)

	// InsertSubscription stores a new FHIR subscription with its delivery
	// state (subscriptions.go).
	InsertSubscription(ctx context.Context, sub *Subscription) error
	// Subscription loads one; lock holds it for update until commit.
	Subscription(ctx context.Context, id string, lock bool) (*Subscription, error)
	// ListSubscriptions lists subscriptions in id order.
	ListSubscriptions(ctx context.Context, q SubscriptionQuery) ([]*Subscription, error)
	// UpdateSubscription stores sub over the stored one (the caller holds
	// it locked).
	UpdateSubscription(ctx context.Context, sub *Subscription) error
	DeleteSubscription(ctx context.Context, id string) error
	// MatchSubscriptions returns the ids of the requested or active
	// subscriptions whose criteria r matches.
	MatchSubscriptions(ctx context.Context, r *Referral) ([]string, error)

	// InsertInbound stores a received message with its sealed raw form
	// and sealed summary (nil: none).
	InsertInbound(ctx context.Context, m *InboundMessage, rawSealed, summarySealed []byte) error
	// UpdateInbound stores m, whose Version the caller has incremented
	// (ErrConflict unless the stored version is m.Version-1); a nil
	// summarySealed keeps the stored summary.
	UpdateInbound(ctx context.Context, m *InboundMessage, summarySealed []byte) error
	// Inbound loads one received message (without its summary); lock
	// holds it for update until commit.
	Inbound(ctx context.Context, id string, lock bool) (*InboundMessage, error)
	// InboundSealed returns the sealed raw message and sealed summary.
	InboundSealed(ctx context.Context, id string) (raw, summary []byte, err error)
	// InboundByHash finds the message of a channel with that content hash.
	InboundByHash(ctx context.Context, channel ChannelKind, hash string) (*InboundMessage, error)
	// InboundByMessageID finds the first message of a channel from sender
	// with that Message-ID.
	InboundByMessageID(ctx context.Context, channel ChannelKind, sender, messageID string) (*InboundMessage, error)
	// ListInbound lists received messages, newest first.
	ListInbound(ctx context.Context, q InboundQuery) ([]*InboundMessage, error)
	// PutNotice inserts or replaces a notice (its wire form is kept when
	// n.Wire is nil on replace).
	PutNotice(ctx context.Context, n *Notice) error
	// Notice loads one notice with its wire form.
	Notice(ctx context.Context, id string, lock bool) (*Notice, error)
	// Notices lists the notices sent about one received message.
	Notices(ctx context.Context, inboundID string) ([]*Notice, error)

	// InsertReceiptKey stores the key an edge reported a delivery's receipt
	// under and reports false, without error, when it is already stored
	// and has not expired (a replay).
	InsertReceiptKey(ctx context.Context, deliveryID, key string, at, expires time.Time) (bool, error)

	// Audit appends ev to the chain of each of its tenants.
	Audit(ctx context.Context, ev audit.Event) error
	// Enqueue queues a job that runs after commit.
	Enqueue(ctx context.Context, j Job) error
	// UnfinishedJobs counts the jobs of kind not yet finished, by state
	// (progress of a round's item jobs).
	UnfinishedJobs(ctx context.Context, kind JobKind) (JobCounts, error)
	// QueueWorked reports whether some process works the queue now: a
	// `gateway serve` whose workers hold the queue's leadership.
	QueueWorked(ctx context.Context) (bool, error)
}

// ReferralQuery filters ListReferrals. Zero fields do not filter. Results
// are ordered by id (time-ordered) and paged with AfterID.
type ReferralQuery struct {
	InvolvesOrg    string // requester or receiver organisation
	RequesterOrg   string
	ReceiverID     string
	ReceiverOrg    string
	Statuses       []Status
	BusinessStatus string
	// Patient matches the patient's identifier (system and value).
	Patient *Token
	IDs     []string
	// Identifier matches the requester's business identifier, stored as
	// "system|value" (or the value alone when it came without a system).
	Identifier *Token
	// DeliveredOn keeps referrals with a delivered delivery on that channel
	// (the FHIR follow loop reads back only what it pushed).
	DeliveredOn ChannelKind
	UpdatedFrom time.Time // inclusive
	UpdatedTo   time.Time // exclusive
	BirthDate   string    // the patient's, exactly (YYYY-MM-DD); matched through a blind index
	AfterID     string
	Limit       int
}

// Token is an identifier criterion with the meaning of a FHIR R4 token
// search: Value must match exactly; when AnySystem is false, System must
// match exactly too, "" meaning an identifier that has no system.
type Token struct {
	System    string
	Value     string
	AnySystem bool
}

// EntryQuery filters ListEntries.
type EntryQuery struct {
	Kind     EntryKind
	ParentID string
	Search   string // case-insensitive match on name, NPI, Direct address or id
	// DirectAddress, when set, keeps the entries whose Direct address is
	// exactly it, case-insensitively (an index lookup, not a search).
	DirectAddress string
	AfterID       string
	Limit         int
}

// AuditQuery filters AuditEntries. A filtered stream is for export; only an
// unfiltered one per tenant verifies.
type AuditQuery struct {
	Tenant     string
	ReferralID string
}

// JobKind names a queued job.
type JobKind string

// The durable jobs the core runs.
const (
	JobDeliver         JobKind = "deliver"
	JobReceiptDeadline JobKind = "receipt-deadline"
	// JobPollReceipt asks a polling channel (ReceiptPoller) for a sent
	// delivery's receipt, every Config.ReceiptPollEvery until one arrives
	// or the deadline passes: a callback lost while the gateway was down
	// delays the receipt by that long, not until the deadline.
	JobPollReceipt JobKind = "poll-receipt"
	// JobInbound processes one received message (Ref is its id).
	JobInbound JobKind = "inbound"
	// JobNotice sends one delivery notification (Ref is its id).
	JobNotice JobKind = "notice"
)

// Job is a unit of queued work.
type Job struct {
	Kind       JobKind
	DeliveryID string
	// Ref is the record an inbound or notice job works on.
	Ref string
	// Practice is the practice the job acts for (the referral's
	// requester); the worker runs it in that practice's scope.
	Practice string
	RunAt    time.Time // zero: as soon as possible
	// Exclusive keeps at most one job of this Kind and Ref waiting,
	// retrying or running at a time: queuing another meanwhile does
	// nothing (River's unique jobs). Edge kinds only.
	Exclusive bool
}

// JobCounts counts unfinished jobs by queue state.
type JobCounts struct {
	// Waiting jobs are due now or later (River: available, scheduled,
	// pending).
	Waiting int `json:"waiting"`
	Running int `json:"running"`
	// Retrying jobs failed and wait for their next attempt.
	Retrying int `json:"retrying"`
}

// Total is every unfinished job counted.
func (c JobCounts) Total() int { return c.Waiting + c.Running + c.Retrying }

// JobMeta tells a handler which attempt it is on.
type JobMeta struct {
	Attempt     int
	MaxAttempts int
	// ScheduledAt is when the job was due; the time since is its wait.
	ScheduledAt time.Time
}

// JobHandler runs queued jobs. A returned error retries the job with
// backoff, no sooner than the Delay of a *RetryAfterError in its chain; a
// *SnoozeError reschedules it without counting an attempt.
type JobHandler interface {
	HandleJob(ctx context.Context, j Job, meta JobMeta) error
}

// SnoozeError asks the queue to run the job again after Delay.
type SnoozeError struct{ Delay time.Duration }

func (e *SnoozeError) Error() string { return "snooze " + e.Delay.String() }

// Document is a small versioned JSON record that an edge (FHIR clients,
// admin accounts, the Direct inbox) keeps in the core store.
type Document struct {
	Kind    string
	ID      string
	Version int
	Updated time.Time
	Expires time.Time // zero: never; expired documents read as not found
	Body    []byte    // JSON
}
