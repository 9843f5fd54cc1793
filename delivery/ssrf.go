package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenTarget is returned (wrapped) when a webhook would connect to a
// loopback, private, link-local or otherwise internal address and
// allow_private_targets is off.
var ErrForbiddenTarget = errors.New("forbidden target address")

// forbiddenRanges are refused unless private targets are allowed. IPv4-mapped
// IPv6 addresses are unmapped before the check.
var forbiddenRanges = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"}, // "this network"; 0.0.0.0 reaches the local host
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // includes 255.255.255.255
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// CheckAddr returns an error wrapping ErrForbiddenTarget when ip is in a
// refused range (loopback, private, link-local, unspecified, multicast,
// carrier-grade NAT, reserved), also in IPv4-mapped IPv6 form.
func CheckAddr(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("address %q: %w", ip, ErrForbiddenTarget)
	}
	u := ip.Unmap().WithZone("")
	for _, r := range forbiddenRanges {
		if r.prefix.Contains(u) {
			return fmt.Errorf("%s is a %s address: %w (set allow_private_targets: true to allow it)", ip, r.name, ErrForbiddenTarget)
		}
	}
	return nil
}

// guardControl is a net.Dialer ControlContext that refuses forbidden
// addresses. It runs after DNS resolution, on the address actually being
// connected to, so a name that resolves (or rebinds) to an internal address
// is refused too.
func guardControl(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s %q: %w", network, address, ErrForbiddenTarget)
	}
	return CheckAddr(ap.Addr())
}

// NewDialer returns the dialer webhooks use; unless allowPrivate, it
// refuses forbidden addresses at connect time.
func NewDialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.ControlContext = guardControl
	}
	return d
}

// NewTransport returns the HTTP transport webhooks use: the guarded dialer,
// keep-alives, HTTP/2 when the server offers it, up to 64 idle connections
// per host, TLS 1.2 or later.
//
// The per-attempt timeout is the request context's, so the transport sets
// only connection-level limits. A proxy from the environment (HTTPS_PROXY,
// ...) is used only when allowPrivate is true: through a proxy the guard
// would see the proxy's address, not the target's, so with the guard on,
// connections are always direct.
func NewTransport(allowPrivate bool) *http.Transport {
	t := &http.Transport{
		DialContext:           NewDialer(allowPrivate).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if allowPrivate {
		t.Proxy = http.ProxyFromEnvironment
	}
	return t
}

// NewClient returns an HTTP client on NewTransport that never follows
// redirects (a 3xx is returned as the response) and has no client-wide
// timeout (Sender applies one per attempt).
func NewClient(allowPrivate bool) *http.Client {
	return &http.Client{
		Transport: NewTransport(allowPrivate),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
