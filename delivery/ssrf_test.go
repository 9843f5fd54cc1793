package delivery

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want string // range name in the error, "" when allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"::ffff:192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"::ffff:169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "reserved"},
		{"8.8.8.8", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"169.255.0.1", ""},
		{"192.169.0.1", ""},
		{"2001:4860:4860::8888", ""},
		{"::ffff:8.8.8.8", ""},
	}
	for _, tt := range tests {
		err := CheckAddr(netip.MustParseAddr(tt.addr))
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckAddr(%s) = %v, want nil", tt.addr, err)
			}
			continue
		}
		if !errors.Is(err, ErrForbiddenTarget) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.addr) {
			t.Errorf("CheckAddr(%s) = %v, want ErrForbiddenTarget naming %s and %q", tt.addr, err, tt.addr, tt.want)
		}
	}
	if err := CheckAddr(netip.Addr{}); !errors.Is(err, ErrForbiddenTarget) {
		t.Errorf("CheckAddr(zero) = %v, want ErrForbiddenTarget", err)
	}
}

func TestDialerGuard(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	tests := []struct {
		name         string
		addr         string
		allowPrivate bool
		wantRefused  bool
	}{
		{"loopback refused", "127.0.0.1:" + port, false, true},
		{"loopback allowed", "127.0.0.1:" + port, true, false},
		{"name resolving to loopback refused", "localhost:" + port, false, true},
		{"mapped loopback refused", "[::ffff:127.0.0.1]:" + port, false, true},
	}
	for _, tt := range tests {
		c, err := NewDialer(tt.allowPrivate).DialContext(ctx, "tcp4", tt.addr)
		if c != nil {
			_ = c.Close()
		}
		if tt.wantRefused != errors.Is(err, ErrForbiddenTarget) {
			t.Errorf("%s: dial %s = %v, want refused %v", tt.name, tt.addr, err, tt.wantRefused)
		}
		if !tt.wantRefused && err != nil {
			t.Errorf("%s: dial %s: %v", tt.name, tt.addr, err)
		}
	}
}

func TestTransportGuard(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, tt := range []struct {
		url          string
		allowPrivate bool
		wantRefused  bool
	}{
		{srv.URL, false, true},
		{"http://localhost:" + port, false, true},
		{srv.URL, true, false},
		{"http://localhost:" + port, true, false},
	} {
		c := NewClient(tt.allowPrivate)
		resp, err := c.Get(tt.url)
		if resp != nil {
			_ = resp.Body.Close()
		}
		c.CloseIdleConnections()
		if tt.wantRefused != errors.Is(err, ErrForbiddenTarget) || (!tt.wantRefused && err != nil) {
			t.Errorf("GET %s (allowPrivate %v) = %v, want refused %v", tt.url, tt.allowPrivate, err, tt.wantRefused)
		}
		if err == nil && resp.StatusCode != 204 {
			t.Errorf("GET %s = %d, want 204", tt.url, resp.StatusCode)
		}
	}
}

func TestNewTransportSettings(t *testing.T) {
	t.Parallel()
	guarded, open := NewTransport(false), NewTransport(true)
	if guarded.Proxy != nil {
		t.Error("guarded transport takes a proxy from the environment; the guard would check the proxy, not the target")
	}
	if open.Proxy == nil {
		t.Error("unguarded transport ignores the environment's proxy")
	}
	if guarded.MaxIdleConnsPerHost != 64 || guarded.DialContext == nil || guarded.TLSClientConfig.MinVersion == 0 {
		t.Errorf("transport settings = %+v", guarded)
	}
}
