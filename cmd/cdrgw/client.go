package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// defaultServer is where the admin commands find the gateway by default.
const defaultServer = "http://127.0.0.1:8080"

// tokenEnv names the environment variable holding the admin token.
const tokenEnv = "CDRGW_ADMIN_TOKEN"

// clientFlags are the flags shared by the commands that talk to a running
// gateway's admin API.
type clientFlags struct {
	server  string
	timeout time.Duration
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", defaultServer, "base URL of the running gateway (token from $"+tokenEnv+")")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "how long to wait for the gateway's answer")
}

// client returns an admin API client for the flags.
func (f *clientFlags) client() (*apiClient, error) {
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server: %q is not an http:// or https:// URL", f.server)
	}
	return &apiClient{
		base:  strings.TrimRight(f.server, "/"),
		token: os.Getenv(tokenEnv),
		http:  &http.Client{Timeout: f.timeout},
	}, nil
}

// apiClient calls the admin API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// apiError is an error answer of the admin API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Msg)
}

// do calls method path?query and decodes a 2xx JSON answer into out (when
// not nil). A non-2xx answer is an *apiError carrying the server's message.
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body[:min(len(body), 512)]))
		}
		return &apiError{Status: resp.StatusCode, Msg: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}

// isAPIError reports whether err is an error answer of the server.
func isAPIError(err error) bool {
	var e *apiError
	return errors.As(err, &e)
}
