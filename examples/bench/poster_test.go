package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The driver's poster reads real net/http answers whatever their framing,
// and sends a request again only when the connection died before an answer.
func TestPosterReadsEveryFraming(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) != "one\ntwo\n" || r.Header.Get("Content-Type") != "application/x-ndjson" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		got.Add(1)
		switch r.URL.Query().Get("frame") {
		case "chunked": // over net/http's 2 KiB buffer, so it is sent chunked
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, strings.Repeat("x", 10000))
		case "close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"accepted":2}`)
		}
	}))
	defer srv.Close()
	for _, frame := range []string{"length", "chunked", "close"} {
		p, err := newPoster(srv.URL+"/v1/events?frame="+frame, "application/x-ndjson", []byte("one\ntwo\n"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if status, err := p.post(); err != nil || status != http.StatusAccepted {
				t.Fatalf("%s, post %d: status %d, %v", frame, i, status, err)
			}
		}
		if frame == "length" {
			srv.CloseClientConnections() // a kept-alive connection the server dropped
			if status, err := p.post(); err != nil || status != http.StatusAccepted {
				t.Fatalf("after the server closed the connection: status %d, %v", status, err)
			}
		}
		p.close()
	}
	if n := got.Load(); n != 10 {
		t.Fatalf("server took %d requests, want 10", n)
	}
}
