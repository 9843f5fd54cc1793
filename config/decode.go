package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/mapping"
)

// Keys accepted in each mapping; the schema says the same.
var (
	topKeys    = []string{"store", "listen", "admin_token", "allow_private_targets", "shutdown_timeout", "max_body", "webhook_env", "sources", "webhooks"}
	sourceKeys = []string{"name", "type", "token", "url", "username", "password", "app", "listen",
		"ivr_contexts", "ivr_apps", "ivr_variables", "keep_variables", "max_call_duration",
		"capture_ids", "local_networks", "local_domains", "max_dialogs"}
	webhookKeys = []string{"name", "url", "events", "when", "method", "encoding", "date_format", "timezone", "hangup_causes",
		"params", "headers", "xml", "jsonrpc", "active", "delay", "debounce", "retry", "timeout", "secrets",
		"concurrency", "ordered", "failing_after", "pause_on_failing", "retry_on"}
	retryKeys   = []string{"attempts", "schedule", "interval", "max_interval", "jitter"}
	xmlKeys     = []string{"root"}
	jsonrpcKeys = []string{"method"}

	// sourceTypeKeys lists the keys each source type accepts besides name and
	// type, and which of them are required.
	sourceTypeKeys = map[string]struct{ allowed, required []string }{
		SourceTeams: {allowed: []string{"token"}},
		SourceARI: {allowed: []string{"url", "username", "password", "app", "ivr_contexts", "ivr_apps", "ivr_variables", "keep_variables", "max_call_duration"},
			required: []string{"url", "username", "app"}},
		SourceHEP: {allowed: []string{"listen", "password", "capture_ids", "local_networks", "local_domains", "max_call_duration", "max_dialogs"},
			required: []string{"listen"}},
		SourceSIP: {allowed: []string{"listen", "local_networks", "local_domains", "max_call_duration", "max_dialogs"},
			required: []string{"listen"}},
	}
)

// secretKeys are keys whose values never appear in an error.
var secretKeys = map[string]bool{"admin_token": true, "token": true, "password": true, "secrets": true}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// decoder turns a node tree into a Config, reporting what it finds wrong.
// Type mismatches it leaves to the schema: a value of the wrong YAML type is
// skipped here and reported by validateSchema.
type decoder struct {
	c      *collector
	lookup func(string) (string, bool)
	allow  func(string) bool // the variables env() may read; nil means any
	root   *node
	hooks  []*node // webhook nodes, by index
}

// keys reports every key of m that is not in allowed.
func (d *decoder) keys(m *node, path string, allowed []string) {
	if m == nil || m.kind != mapNode {
		return
	}
	for i, k := range m.keys {
		if slices.Contains(allowed, k) {
			continue
		}
		msg := "unknown key"
		if s := suggest(k, allowed); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		d.c.add(m.keyNodes[i], pathKey(path, k), "%s", msg)
	}
}

// suggest returns the allowed key closest to k, if close enough to be a typo.
func suggest(k string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if dist := editDistance(strings.ToLower(k), a); dist < bestD {
			best, bestD = a, dist
		}
	}
	if bestD > len(k)/2 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// str returns a string scalar; other types are left to the schema.
func str(n *node) (string, bool) {
	if n == nil || n.kind != scalarNode {
		return "", false
	}
	s, ok := n.value.(string)
	return s, ok
}

// boolean returns a bool scalar, or the expansion of an unquoted ${VAR}
// that reads as one.
func boolean(n *node, def bool) bool {
	if n == nil || n.kind != scalarNode {
		return def
	}
	if b, ok := n.value.(bool); ok {
		return b
	}
	if b, ok := expandedBool(n); ok {
		return b
	}
	return def
}

func expandedBool(n *node) (bool, bool) {
	s, ok := n.value.(string)
	if !ok || !n.plainExpanded() {
		return false, false
	}
	switch s {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// integer returns an integer scalar, or the expansion of an unquoted ${VAR}
// that reads as one.
func integer(n *node) (int64, bool) {
	if n == nil || n.kind != scalarNode {
		return 0, false
	}
	switch v := n.value.(type) {
	case int64:
		return v, true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
		return math.MaxInt64, true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), true
		}
	case string:
		if n.plainExpanded() {
			i, err := strconv.ParseInt(v, 10, 64)
			return i, err == nil
		}
	}
	return 0, false
}

// number returns a numeric scalar, or the expansion of an unquoted ${VAR}
// that reads as one.
func number(n *node) (float64, bool) {
	if n == nil || n.kind != scalarNode {
		return 0, false
	}
	switch v := n.value.(type) {
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case float64:
		return v, true
	case string:
		if n.plainExpanded() {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
		}
	}
	return 0, false
}

// convertible reports whether a schema type error on n is only the string
// of an unquoted ${VAR} that the decoder reads as one of want.
func convertible(n *node, want []string) bool {
	if !n.plainExpanded() {
		return false
	}
	for _, w := range want {
		switch w {
		case "boolean":
			if _, ok := expandedBool(n); ok {
				return true
			}
		case "integer":
			if _, ok := integer(n); ok {
				return true
			}
		case "number":
			if _, ok := number(n); ok {
				return true
			}
		}
	}
	return false
}

// intAtLeast reads an integer key with a default and a lower bound.
func (d *decoder) intAtLeast(m *node, key, path string, def, lo int) int {
	n, _ := m.get(key)
	if n == nil {
		return def
	}
	v, ok := integer(n)
	if !ok {
		return def // the schema reports the type
	}
	if v < int64(lo) || v > math.MaxInt32 {
		d.c.add(n, pathKey(path, key), "must be between %d and %d, not %d", lo, math.MaxInt32, v)
		return def
	}
	return int(v)
}

// duration reads a Go duration key with a default; negative durations and
// durations shorter than lo are rejected.
func (d *decoder) duration(m *node, key, path string, def, lo time.Duration) time.Duration {
	n, _ := m.get(key)
	if n == nil {
		return def
	}
	p := pathKey(path, key)
	if _, isNum := number(n); isNum {
		if _, isStr := n.value.(string); !isStr {
			d.c.add(n, p, "%s is not a duration: give a unit, like \"%ss\" or \"%sms\"", n.text, n.text, n.text)
			return def
		}
	}
	s, ok := str(n)
	if !ok {
		return def
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		d.c.add(n, p, "invalid duration %q: use a number with a unit: ms, s, m or h (\"30s\", \"1m30s\")", s)
		return def
	case v < lo:
		if lo == 0 {
			d.c.add(n, p, "duration %q must not be negative", s)
		} else {
			d.c.add(n, p, "duration %q must be at least %s", s, lo)
		}
		return def
	}
	return v
}

func (d *decoder) config(root *node) *Config {
	d.root = root
	cfg := &Config{
		Store:           DefaultStore,
		Listen:          DefaultListen,
		ShutdownTimeout: DefaultShutdownTimeout,
		MaxBody:         DefaultMaxBody,
	}
	if root.kind != mapNode {
		// The schema reports that the document must be a mapping.
		return cfg
	}
	d.keys(root, "", topKeys)

	if n, _ := root.get("store"); n != nil {
		if s, ok := str(n); ok {
			cfg.Store = s
			if err := checkStore(s); err != nil {
				d.c.add(n, "store", "%v", err)
			}
		}
	}
	listenNode, _ := root.get("listen")
	if s, ok := str(listenNode); ok {
		cfg.Listen = s
		if err := checkListen(s); err != nil {
			d.c.add(listenNode, "listen", "%v", err)
		}
	}
	tokNode, tokKey := root.get("admin_token")
	if s, ok := str(tokNode); ok {
		cfg.AdminToken = s
	}
	if cfg.AdminToken == "" && !isLoopback(cfg.Listen) {
		at, p := tokNode, "admin_token"
		if at == nil {
			at = tokKey
		}
		if at == nil {
			at = listenNode
		}
		d.c.add(at, p, "required when listen (%q) is not a loopback address", cfg.Listen)
	}
	cfg.AllowPrivateTargets = boolean(first(root.get("allow_private_targets")), false)
	cfg.ShutdownTimeout = d.duration(root, "shutdown_timeout", "", DefaultShutdownTimeout, time.Millisecond)
	if n, _ := root.get("max_body"); n != nil {
		if v, ok := d.size(n, "max_body"); ok {
			cfg.MaxBody = v
		}
	}

	if en, _ := root.get("webhook_env"); en != nil && en.kind == seqNode {
		for i, it := range en.items {
			v, ok := str(it)
			if !ok {
				continue // the schema reports the type
			}
			if !envPatternRE.MatchString(v) {
				d.c.add(it, pathIndex("webhook_env", i), "%q is not a variable name or pattern: use letters, digits and '_', with * for any run of characters and ? for one (CRM_*)", v)
				continue
			}
			cfg.WebhookEnv = append(cfg.WebhookEnv, v)
		}
	}

	if sn, _ := root.get("sources"); sn != nil && sn.kind == seqNode {
		names := map[string]string{}
		for i, item := range sn.items {
			p := pathIndex("sources", i)
			src := d.source(item, p)
			d.unique(item, p, "source", src.Name, names)
			cfg.Sources = append(cfg.Sources, src)
		}
	}
	if wn, _ := root.get("webhooks"); wn != nil && wn.kind == seqNode {
		names := map[string]string{}
		for i, item := range wn.items {
			p := pathIndex("webhooks", i)
			w := d.webhook(item, p)
			d.unique(item, p, "webhook", w.Spec.Name, names)
			cfg.Webhooks = append(cfg.Webhooks, w)
			d.hooks = append(d.hooks, item)
		}
	}
	return cfg
}

func first(a, _ *node) *node { return a }

// unique checks a source or webhook name: non-empty, well-formed and not
// used before.
func (d *decoder) unique(item *node, path, what, name string, seen map[string]string) {
	n, _ := item.get("name")
	if _, ok := str(n); !ok {
		return // missing or mistyped: the schema reports it
	}
	p := path + ".name"
	switch {
	case name == "":
		d.c.add(n, p, "must not be empty")
	case !nameRE.MatchString(name):
		d.c.add(n, p, "invalid %s name %q: use letters, digits, '_', '.' and '-'", what, name)
	case seen[name] != "":
		d.c.add(n, p, "duplicate %s name %q (first used by %s)", what, name, seen[name])
	default:
		seen[name] = path
	}
}

// size reads a byte count: an integer or a string such as "512KiB" or "1MB".
func (d *decoder) size(n *node, path string) (int64, bool) {
	if v, ok := integer(n); ok {
		if v <= 0 {
			d.c.add(n, path, "must be a positive number of bytes, not %d", v)
			return 0, false
		}
		return v, true
	}
	s, ok := str(n)
	if !ok {
		return 0, false
	}
	v, err := parseSize(s)
	if err != nil {
		d.c.add(n, path, "%v", err)
		return 0, false
	}
	return v, true
}

var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9,
	"K": 1 << 10, "M": 1 << 20, "G": 1 << 30,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
}

var sizeRE = regexp.MustCompile(`^([0-9]+) ?([KMG]i?B?|B)?$`)

func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	bad := fmt.Errorf("invalid size %q: use a number of bytes or a number with KiB, MiB, GiB, KB, MB or GB", s)
	if m == nil {
		return 0, bad
	}
	unit, ok := sizeUnits[m[2]]
	if !ok {
		return 0, bad
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || v <= 0 || v > math.MaxInt64/unit {
		return 0, fmt.Errorf("invalid size %q: must be between 1 byte and 8 EiB", s)
	}
	return v * unit, nil
}

func checkStore(s string) error {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return errors.New("must be a URL: sqlite://FILE or postgres://USER@HOST:PORT/DB")
	}
	switch scheme {
	case "sqlite":
		if strings.TrimPrefix(s, "sqlite://") == "" {
			return errors.New("sqlite:// needs a file name, as in sqlite://cdrgw.db")
		}
		return nil
	case "postgres", "postgresql":
		if _, err := url.Parse(s); err != nil {
			return errors.New("invalid postgres URL")
		}
		return nil
	}
	return fmt.Errorf("unsupported store %q: use sqlite://FILE or postgres://USER@HOST:PORT/DB", scheme+"://")
}

// checkListen checks a host:port address; an empty host means all
// interfaces.
func checkListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port, as in 127.0.0.1:8080", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("invalid port %q in address %q", port, s)
	}
	return nil
}

// isLoopback reports whether the host of a listen address is loopback
// (127.0.0.0/8, ::1 or localhost).
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (d *decoder) source(n *node, path string) Source {
	var s Source
	if n == nil || n.kind != mapNode {
		return s
	}
	d.keys(n, path, sourceKeys)
	get := func(k string) string { v, _ := str(first(n.get(k))); return v }
	s.Name, s.Type = get("name"), get("type")
	s.Token, s.URL, s.Username, s.Password, s.App, s.Listen = get("token"), get("url"), get("username"), get("password"), get("app"), get("listen")

	spec, known := sourceTypeKeys[s.Type]
	if !known {
		if tn, _ := n.get("type"); tn != nil {
			if _, ok := str(tn); ok {
				d.c.add(tn, path+".type", "unknown source type %q: want teams, ari, hep or sip", s.Type)
			}
		}
		return s
	}
	for i, k := range n.keys {
		if k == "name" || k == "type" || !slices.Contains(sourceKeys, k) || slices.Contains(spec.allowed, k) {
			continue
		}
		d.c.add(n.keyNodes[i], pathKey(path, k), "not allowed for a source of type %s", s.Type)
	}
	for _, k := range spec.required {
		if v, _ := n.get(k); v == nil {
			d.c.add(n, path, "missing key %q, required for a source of type %s", k, s.Type)
		}
	}
	if s.Type == SourceARI && s.URL != "" {
		un, _ := n.get("url")
		if err := checkHTTPURL(s.URL); err != nil {
			d.c.add(un, path+".url", "%v", err)
		}
	}
	if (s.Type == SourceHEP || s.Type == SourceSIP) && s.Listen != "" {
		ln, _ := n.get("listen")
		if err := checkListen(s.Listen); err != nil {
			d.c.add(ln, path+".listen", "%v", err)
		}
	}
	s.IVRContexts = d.strings(n, "ivr_contexts", path)
	s.IVRApps = d.strings(n, "ivr_apps", path)
	s.IVRVariables = d.strings(n, "ivr_variables", path)
	s.KeepVariables = d.strings(n, "keep_variables", path)
	s.LocalDomains = d.strings(n, "local_domains", path)
	if s.Type != SourceTeams {
		s.MaxCallDuration = d.duration(n, "max_call_duration", path, DefaultMaxCallDuration, time.Second)
	}
	if s.Type == SourceHEP || s.Type == SourceSIP {
		s.MaxDialogs = d.intAtLeast(n, "max_dialogs", path, DefaultMaxDialogs, 1)
	}
	for i, v := range d.strings(n, "local_networks", path) {
		p, err := parsePrefix(v)
		if err != nil {
			it, _ := n.get("local_networks")
			d.c.add(it.items[i], pathIndex(path+".local_networks", i), "%q is not an IP address or prefix (e.g. 10.0.0.0/8)", v)
			continue
		}
		s.LocalNetworks = append(s.LocalNetworks, p)
	}
	if cn, _ := n.get("capture_ids"); cn != nil && cn.kind == seqNode {
		for i, it := range cn.items {
			v, ok := integer(it)
			if !ok {
				continue
			}
			if v < 0 || v > math.MaxUint32 {
				d.c.add(it, pathIndex(path+".capture_ids", i), "%d is not a capture id (0 to 4294967295)", v)
				continue
			}
			s.CaptureIDs = append(s.CaptureIDs, uint32(v))
		}
	}
	return s
}

// strings returns the string items of the list at key (type errors are the
// schema's to report).
func (d *decoder) strings(m *node, key, path string) []string {
	n, _ := m.get(key)
	if n == nil || n.kind != seqNode {
		return nil
	}
	var out []string
	for _, it := range n.items {
		if v, ok := str(it); ok && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parsePrefix parses an IP prefix, or an address as a one-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// checkHTTPURL checks that s is an absolute http or https URL, never
// printing its password.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid URL %q: want an absolute http:// or https:// URL", redactURL(s))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("invalid URL %q: no host", redactURL(s))
	}
	return nil
}

// redactURL hides what may be a user name and password in a URL, valid or
// not: everything between the last / before an @ and that @.
func redactURL(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	start := strings.LastIndexByte(s[:at], '/') + 1
	return s[:start] + "xxxxx" + s[at:]
}

// templateFree replaces every {{ ... }} of a URL template with "x", so that
// what is left can be checked as a URL.
func templateFree(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if strings.Contains(s, "}}") {
				return "", errors.New("unmatched }} in URL")
			}
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			return "", errors.New("unterminated {{ in URL")
		}
		b.WriteString(s[:i])
		b.WriteString("x")
		s = s[i+2+j+2:]
	}
}

func (d *decoder) webhook(n *node, path string) Webhook {
	w := Webhook{
		Active:       true,
		Timeout:      DefaultTimeout,
		Concurrency:  DefaultConcurrency,
		FailingAfter: DefaultFailingAfter,
		Retry: Retry{
			Attempts:    DefaultRetryAttempts,
			Schedule:    DefaultRetrySchedule,
			Interval:    DefaultRetryInterval,
			MaxInterval: DefaultRetryMax,
			Jitter:      DefaultRetryJitter,
		},
	}
	if n == nil || n.kind != mapNode {
		return w
	}
	d.keys(n, path, webhookKeys)
	get := func(k string) (string, *node) {
		v, _ := n.get(k)
		s, _ := str(v)
		return s, v
	}
	sp := &w.Spec
	sp.Name, _ = get("name")
	var un *node
	sp.URL, un = get("url")
	if _, ok := str(un); ok {
		if bare, err := templateFree(sp.URL); err != nil {
			d.c.add(un, path+".url", "%v", err)
		} else if err := checkHTTPURL(bare); err != nil {
			d.c.add(un, path+".url", "%v", err)
		}
	}
	if en, _ := n.get("events"); en != nil && en.kind == seqNode {
		if len(en.items) == 0 {
			d.c.add(en, path+".events", "at least one event type is required")
		}
		seen := map[cdr.Type]int{}
		for i, it := range en.items {
			s, ok := str(it)
			if !ok {
				continue
			}
			p := pathIndex(path+".events", i)
			t, err := cdr.ParseType(s)
			if err != nil {
				d.c.add(it, p, "unknown event type %q: want one of %s", s, typeList())
				continue
			}
			if j, dup := seen[t]; dup {
				d.c.add(it, p, "event type %q is already listed at events[%d]", s, j)
				continue
			}
			seen[t] = i
			sp.Events = append(sp.Events, t)
		}
	}
	sp.When, _ = get("when")
	sp.Method, _ = get("method")
	sp.Encoding, _ = get("encoding")
	sp.DateFormat, _ = get("date_format")
	var tzn *node
	sp.Timezone, tzn = get("timezone")
	if sp.Timezone != "" {
		if _, err := time.LoadLocation(sp.Timezone); err != nil || strings.EqualFold(sp.Timezone, "local") {
			d.c.add(tzn, path+".timezone", "unknown time zone %q: use an IANA name such as Europe/Kyiv or UTC", sp.Timezone)
			sp.Timezone = ""
		}
	}
	if hn, _ := n.get("hangup_causes"); hn != nil && hn.kind == mapNode {
		sp.HangupCauses = map[string]string{}
		for i, k := range hn.keys {
			if v := hn.vals[i]; v.kind == scalarNode && v.value != nil {
				sp.HangupCauses[k] = fmt.Sprint(v.value)
			}
		}
	}
	sp.Params = d.exprMap(n, "params", path)
	sp.Headers = d.exprMap(n, "headers", path)
	if xn, _ := n.get("xml"); xn != nil {
		d.keys(xn, path+".xml", xmlKeys)
		sp.XMLRoot, _ = str(first(xn.get("root")))
	}
	if jn, _ := n.get("jsonrpc"); jn != nil {
		d.keys(jn, path+".jsonrpc", jsonrpcKeys)
		sp.JSONRPCMethod, _ = str(first(jn.get("method")))
	}
	if d.lookup != nil {
		lookup, allow := d.lookup, d.allow
		sp.Env = func(name string) string {
			if allow != nil && !allow(name) {
				return ""
			}
			v, _ := lookup(name)
			return v
		}
	}

	w.Active = boolean(first(n.get("active")), true)
	w.Ordered = boolean(first(n.get("ordered")), false)
	w.PauseOnFailing = boolean(first(n.get("pause_on_failing")), false)
	w.Delay = d.duration(n, "delay", path, 0, 0)
	w.Debounce = d.duration(n, "debounce", path, 0, 0)
	w.Timeout = d.duration(n, "timeout", path, DefaultTimeout, time.Millisecond)
	w.Concurrency = d.intAtLeast(n, "concurrency", path, DefaultConcurrency, 1)
	w.FailingAfter = d.intAtLeast(n, "failing_after", path, DefaultFailingAfter, 1)
	if rn, _ := n.get("retry"); rn != nil && rn.kind == mapNode {
		w.Retry = d.retry(rn, path+".retry")
	}
	if sn, _ := n.get("secrets"); sn != nil && sn.kind == seqNode {
		for i, it := range sn.items {
			s, ok := str(it)
			if !ok || s == "" {
				continue // an unset ${VAR}: no secret
			}
			if _, err := secretKey(s); err != nil {
				d.c.add(it, pathIndex(path+".secrets", i), "invalid secret: want whsec_<base64> (the whsec_ prefix is optional) decoding to a non-empty key")
				continue
			}
			w.Secrets = append(w.Secrets, s)
		}
	}
	if rn, _ := n.get("retry_on"); rn != nil && rn.kind == seqNode {
		for i, it := range rn.items {
			v, ok := integer(it)
			if !ok {
				continue
			}
			if v < 400 || v > 499 {
				d.c.add(it, pathIndex(path+".retry_on", i), "%d is not a 4xx status (408, 429 and 5xx are always retried)", v)
				continue
			}
			w.RetryOn4xx = append(w.RetryOn4xx, int(v))
		}
	}
	return w
}

func (d *decoder) retry(n *node, path string) Retry {
	d.keys(n, path, retryKeys)
	r := Retry{
		Attempts: d.intAtLeast(n, "attempts", path, DefaultRetryAttempts, 1),
		Schedule: DefaultRetrySchedule,
		Interval: d.duration(n, "interval", path, DefaultRetryInterval, time.Millisecond),
		Jitter:   DefaultRetryJitter,
	}
	r.MaxInterval = d.duration(n, "max_interval", path, max(DefaultRetryMax, r.Interval), time.Millisecond)
	if sn, _ := n.get("schedule"); sn != nil {
		if s, ok := str(sn); ok {
			if s != ScheduleFixed && s != ScheduleExponential {
				d.c.add(sn, path+".schedule", "unknown schedule %q: want fixed or exponential", s)
			} else {
				r.Schedule = s
			}
		}
	}
	if r.MaxInterval < r.Interval {
		mn, _ := n.get("max_interval")
		if mn == nil {
			mn, _ = n.get("interval")
		}
		d.c.add(mn, path+".max_interval", "%s is shorter than interval %s", r.MaxInterval, r.Interval)
	}
	if jn, _ := n.get("jitter"); jn != nil {
		if v, ok := number(jn); ok {
			if v < 0 || v > 1 {
				d.c.add(jn, path+".jitter", "must be between 0 and 1, not %v", v)
			} else {
				r.Jitter = v
			}
		}
	}
	return r
}

// exprMap reads params or headers: a mapping of names to expressions, in
// file order. Numbers and booleans are taken as written ("5", "true").
func (d *decoder) exprMap(n *node, key, path string) []mapping.Param {
	m, _ := n.get(key)
	if m == nil || m.kind != mapNode {
		return nil
	}
	out := make([]mapping.Param, 0, len(m.keys))
	for i, k := range m.keys {
		v := m.vals[i]
		if v.kind != scalarNode {
			continue // the schema reports it
		}
		var e string
		switch x := v.value.(type) {
		case nil:
			d.c.add(v, pathKey(pathKey(path, key), k), "empty expression: write null, \"\" or an expression")
			continue
		case string:
			e = x
		default:
			e = v.text
		}
		if strings.TrimSpace(e) == "" {
			d.c.add(v, pathKey(pathKey(path, key), k), "empty expression")
			continue
		}
		out = append(out, mapping.Param{Name: k, Expr: e})
	}
	return out
}

func typeList() string {
	s := make([]string, len(cdr.Types))
	for i, t := range cdr.Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}
