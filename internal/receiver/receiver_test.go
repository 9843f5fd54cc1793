package receiver

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestReceiverRecordsAndAnswers(t *testing.T) {
	r := Start(t, func(q *Request) Response {
		if q.Path == "/fail" {
			return Response{Status: 503, Header: map[string]string{"Retry-After": "1"}}
		}
		return Response{Body: "ok"}
	})
	for _, p := range []string{"/a", "/fail"} {
		req, _ := http.NewRequest("POST", r.URL+p, strings.NewReader("x"))
		req.Header.Set("webhook-id", "dlv_1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[string]int{"/a": 200, "/fail": 503}[p]; resp.StatusCode != want {
			t.Fatalf("%s: status %d, want %d", p, resp.StatusCode, want)
		}
	}
	got := r.WaitT(t, 2, time.Second)
	if got[0].Path != "/a" || string(got[1].Body) != "x" || r.IDs()["dlv_1"] != 2 {
		t.Fatalf("recorded %+v", got)
	}
}
