package config

import (
	_ "embed"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/mapping"
)

// Defaults applied by Load to keys left out of the file.
const (
	DefaultStore           = "sqlite://cdrgw.db"
	DefaultListen          = "127.0.0.1:8080"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultMaxBody         = 1 << 20 // bytes
	DefaultTimeout         = 10 * time.Second
	DefaultConcurrency     = 4
	DefaultMaxCallDuration = 4 * time.Hour // ari, hep, sip sources
	DefaultMaxDialogs      = 200000        // hep, sip sources
	DefaultFailingAfter    = 5
	DefaultRetryAttempts   = 3
	DefaultRetrySchedule   = ScheduleExponential
	DefaultRetryInterval   = 30 * time.Second
	DefaultRetryMax        = 10 * time.Minute
	DefaultRetryJitter     = 0.1
)

// Retry schedules.
const (
	ScheduleFixed       = "fixed"       // every retry waits Interval
	ScheduleExponential = "exponential" // Interval, 2×Interval, 4×Interval, ... capped at MaxInterval
)

// Source types.
const (
	SourceTeams = "teams" // Teams contact-center CDR JSON posted to /ingest/<name>
	SourceARI   = "ari"   // Asterisk REST Interface
	SourceHEP   = "hep"   // HEPv3 over UDP
	SourceSIP   = "sip"   // mirrored SIP over UDP
)

// Example is a runnable config for a first start (`make run`): the embedded
// SQLite store, the admin API on loopback, one Teams source and one webhook
// posting JSON to a local receiver, every key explained in a comment.
//
//go:embed example.yaml
var Example []byte

// Config is a loaded, validated config file.
type Config struct {
	Store               string        // store URL: sqlite://FILE or postgres://...
	Listen              string        // host:port of the admin API, web UI and HTTP ingest
	AdminToken          string        // bearer token of the admin API; required unless Listen is loopback
	AllowPrivateTargets bool          // lets webhooks reach loopback, private and link-local addresses
	ShutdownTimeout     time.Duration // how long a graceful stop may take
	MaxBody             int64         // largest HTTP ingest body, in bytes
	WebhookEnv          []string      // variables (names, globs like CRM_*) that webhooks created at run time may read; see ParseRuntimeWebhook
	Sources             []Source      // inputs, in file order
	Webhooks            []Webhook     // outputs, in file order
}

// Source is one input adapter's settings.
type Source struct {
	Name     string // unique among sources; the source.name of its events
	Type     string // SourceTeams, SourceARI, SourceHEP or SourceSIP
	Token    string // teams: bearer token required on POST /ingest/<name>; "" accepts any caller
	URL      string // ari: base URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088
	Username string // ari: ARI user
	Password string // ari: ARI password
	App      string // ari: Stasis application name
	Listen   string // hep, sip: host:port to listen on (UDP and TCP)

	IVRContexts   []string // ari: dialplan contexts (globs) in which a call is in an IVR
	IVRApps       []string // ari: applications during which a call is in an IVR; nil means the adapter's default
	IVRVariables  []string // ari: channel variables that become IVR inputs
	KeepVariables []string // ari: channel variables kept in record.custom

	MaxCallDuration time.Duration  // ari, hep, sip: calls with no end are ended as incomplete after this long
	CaptureIDs      []uint32       // hep: accepted capture ids; none means any
	LocalNetworks   []netip.Prefix // hep, sip: local side, for direction
	LocalDomains    []string       // hep, sip: local SIP domains, for direction
	MaxDialogs      int            // hep, sip: open dialogs held at most
}

// Webhook is one webhook: its request definition, compiled, and how
// deliveries to it are scheduled.
type Webhook struct {
	Spec           mapping.Spec     // the request definition as written (events parsed)
	Compiled       *mapping.Webhook // Spec compiled, ready to render
	Active         bool             // false keeps the webhook configured but matches no event
	Delay          time.Duration    // wait before the first attempt
	Debounce       time.Duration    // latest-wins window per (event type, call); 0 disables
	Retry          Retry            // retry policy
	Timeout        time.Duration    // per-attempt timeout
	Secrets        []string         // Standard Webhooks signing secrets (whsec_<base64> or raw), newest first
	Concurrency    int              // attempts in flight at once
	Ordered        bool             // deliver one event at a time per call, in event order
	FailingAfter   int              // consecutive failures that raise webhook.failing
	PauseOnFailing bool             // pause the webhook when it raises webhook.failing
	RetryOn4xx     []int            // 4xx statuses retried in addition to 408 and 429
}

// Retry is a webhook's retry policy.
type Retry struct {
	Attempts    int           // total attempts, the first included
	Schedule    string        // ScheduleFixed or ScheduleExponential
	Interval    time.Duration // wait before the first retry
	MaxInterval time.Duration // longest wait between attempts
	Jitter      float64       // random spread of each wait, as a fraction (0.1 = ±10 %)
}

// Name returns the webhook's name.
func (w *Webhook) Name() string { return w.Spec.Name }

// SigningKeys returns the HMAC keys of the webhook's secrets, in config
// order: the base64 after the optional whsec_ prefix, decoded (as the
// Standard Webhooks reference libraries do).
func (w *Webhook) SigningKeys() [][]byte {
	keys := make([][]byte, 0, len(w.Secrets))
	for _, s := range w.Secrets {
		k, _ := secretKey(s) // validated by Load
		keys = append(keys, k)
	}
	return keys
}

func secretKey(s string) ([]byte, error) {
	rest, _ := strings.CutPrefix(s, "whsec_")
	k, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, err
	}
	if len(k) == 0 {
		return nil, fmt.Errorf("empty key")
	}
	return k, nil
}

// Webhook returns the webhook called name.
func (c *Config) Webhook(name string) (*Webhook, bool) {
	for i := range c.Webhooks {
		if c.Webhooks[i].Spec.Name == name {
			return &c.Webhooks[i], true
		}
	}
	return nil, false
}

// Source returns the source called name.
func (c *Config) Source(name string) (*Source, bool) {
	for i := range c.Sources {
		if c.Sources[i].Name == name {
			return &c.Sources[i], true
		}
	}
	return nil, false
}

// LoadFile reads and loads the config file at path, expanding variables from
// the process environment. Errors name path as their file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Load(data, path, nil)
}

// Load parses a config file, expands ${NAME} and ${NAME:-default} in its
// string values with lookup (nil means os.LookupEnv), applies defaults,
// validates it (cdrgw's own checks, schemas/config.schema.json, then every
// webhook compiled with mapping.Compile) and returns it. On failure
// the error is an Errors holding every problem found, in file order, each
// naming name, the line and column, and the YAML path.
func Load(data []byte, name string, lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	c := newCollector(name)
	c.cur = phaseSyntax
	root := parseYAML(data, c, lookup, nil)
	if root == nil {
		return nil, c.result()
	}
	d := &decoder{c: c, lookup: lookup}
	c.cur = phaseDecode
	cfg := d.config(root)
	c.cur = phaseSchema
	if err := validateSchema(root, c); err != nil {
		return nil, err
	}
	c.cur = phaseCompile
	d.compile(cfg)
	if err := c.result(); err != nil {
		return nil, err
	}
	return cfg, nil
}
