package web

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Sign-in attempts are limited per client address: after loginFailures
// wrong admin tokens within loginWindow, every sign-in from that address is
// refused (429) until the window ends, the right token included, so that
// the token cannot be guessed at speed.
const (
	loginFailures = 10
	loginWindow   = 10 * time.Minute
	// maxClients bounds the addresses tracked; beyond it new addresses
	// share one count.
	maxClients = 10000
)

// overflowClient is the shared key of addresses beyond maxClients.
const overflowClient = "*"

// loginLimiter counts failed sign-ins per client address.
type loginLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	clients map[string]*failures
}

// failures are one address's failed sign-ins in the window starting at start.
type failures struct {
	n     int
	start time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, clients: map[string]*failures{}}
}

// clientAddr is the address a request came from (the proxy's, behind a
// reverse proxy: then all clients share one limit).
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// wait returns how long addr must wait before it may sign in again; 0
// when it may now.
func (l *loginLimiter) wait(addr string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entry(addr, now, false)
	if f == nil || f.n < loginFailures {
		return 0
	}
	return f.start.Add(loginWindow).Sub(now)
}

// fail counts a wrong token from addr.
func (l *loginLimiter) fail(addr string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entry(addr, now, true).n++
}

// entry returns addr's count in the current window, creating it when add
// is set; the caller holds l.mu. When maxClients addresses are tracked,
// an address not among them counts under overflowClient.
func (l *loginLimiter) entry(addr string, now time.Time, add bool) *failures {
	if f := l.live(addr, now); f != nil {
		return f
	}
	full := len(l.clients) >= maxClients
	if full && add {
		for a := range l.clients {
			l.live(a, now) // drops ended windows
		}
		full = len(l.clients) >= maxClients
	}
	if full {
		addr = overflowClient
		if f := l.live(addr, now); f != nil {
			return f
		}
	}
	if !add {
		return nil
	}
	f := &failures{start: now}
	l.clients[addr] = f
	return f
}

// live returns addr's count when its window has not ended, dropping an
// ended one; the caller holds l.mu.
func (l *loginLimiter) live(addr string, now time.Time) *failures {
	f, ok := l.clients[addr]
	if !ok {
		return nil
	}
	if now.Before(f.start.Add(loginWindow)) {
		return f
	}
	delete(l.clients, addr)
	return nil
}
