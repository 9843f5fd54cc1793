package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cdrgw/cdrgw/internal/arisim"
)

func cmdARIReplay(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "ari-replay", "[--listen ADDR] [--speed X] [--username U --password P] [--info FILE] FILE", `
Serves a recorded ARI event stream (one WebSocket event per line, as
/ari/events sends them) as a simulated Asterisk ARI server: HTTP basic auth
or api_key, GET /ari/asterisk/info, /ari/channels, /ari/applications and the
/ari/events WebSocket, replaying the recording at --speed (1 = recorded
speed, 0 = as fast as possible) once a client connects. Point an ari source
of cdrgw serve at http://ADDR to try the ARI adapter without an Asterisk.
Runs until interrupted.`)
	listen := fs.String("listen", "127.0.0.1:8088", "address to serve on")
	speed := fs.Float64("speed", 1, "replay speed: 1 recorded, 10 ten times faster, 0 as fast as possible")
	user := fs.String("username", "gw", "ARI user name clients must send")
	pass := fs.String("password", "gw", "ARI password clients must send")
	infoPath := fs.String("info", "", "file served as GET /ari/asterisk/info (default: a minimal one)")
	files, code, ok := parse(fs, e, args)
	if !ok {
		return code
	}
	if len(files) != 1 {
		fmt.Fprintln(e.stderr, "cdrgw ari-replay: exactly one recording FILE is required")
		fs.Usage()
		return exitUsage
	}
	events, err := arisim.LoadRecording(files[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw ari-replay: %v\n", err)
		return exitFail
	}
	var info []byte
	if *infoPath != "" {
		if info, err = os.ReadFile(*infoPath); err != nil {
			fmt.Fprintf(e.stderr, "cdrgw ari-replay: %v\n", err)
			return exitFail
		}
	}
	sim := arisim.New(arisim.Options{Username: *user, Password: *pass, Events: events, Info: info, Speed: *speed})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw ari-replay: %v\n", err)
		return exitFail
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stdout, "serving %d events of %s as ARI on http://%s/ari (user %q)\n", len(events), files[0], ln.Addr(), *user)
	go func() {
		<-ctx.Done()
		sim.Close()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(e.stderr, "cdrgw ari-replay: %v\n", err)
		return exitFail
	}
	return exitOK
}
