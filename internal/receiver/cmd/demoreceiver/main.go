// Command demoreceiver is the webhook receiver of make demo: it listens on
// a loopback address, answers every request with 200 and prints one line
// per request (time, method, path, compact JSON body) until interrupted.
//
//	demoreceiver -listen 127.0.0.1:18099
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/cdrgw/cdrgw/internal/receiver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18099", "loopback host:port to listen on")
	flag.Parse()
	if err := run(*listen, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demoreceiver:", err)
		os.Exit(1)
	}
}

func run(listen string, out io.Writer) error {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("flag -listen %q: want a loopback host:port such as 127.0.0.1:18099", listen)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var mu sync.Mutex
	r, err := receiver.Listen(listen, func(q *receiver.Request) receiver.Response {
		mu.Lock()
		fmt.Fprintln(out, line(q))
		mu.Unlock()
		return receiver.Response{}
	})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	fmt.Fprintf(out, "demoreceiver: listening on %s\n", r.URL)
	<-ctx.Done()
	r.Close()
	return nil
}

// line formats one request: time, method, path (and query) and the body,
// compacted when it is JSON.
func line(q *receiver.Request) string {
	path := q.Path
	if q.Query != "" {
		path += "?" + q.Query
	}
	body := q.Body
	var b bytes.Buffer
	if json.Compact(&b, body) == nil {
		body = b.Bytes()
	}
	return fmt.Sprintf("%s %s %s %s", q.At.Format("15:04:05.000"), q.Method, path, body)
}
