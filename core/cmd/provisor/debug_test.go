package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisor/provisor/core/internal/store/sqlite"
)

func TestDebugListener(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	srv, addr, err := startDebug("127.0.0.1:0", st, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + addr.String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		path   string
		status int
		check  func(t *testing.T, body string)
	}{
		{"/debug/store", 200, func(t *testing.T, body string) {
			var s sqlite.Stats
			if err := json.Unmarshal([]byte(body), &s); err != nil {
				t.Fatal(err)
			}
			if s.QueueCap == 0 || s.Batches == 0 {
				t.Errorf("stats %+v: want the writer's queue and the flush's batch", s)
			}
		}},
		{"/debug/pprof/", 200, func(t *testing.T, body string) {
			if !strings.Contains(body, "goroutine") {
				t.Errorf("index lacks the goroutine profile: %.200s", body)
			}
		}},
		{"/debug/pprof/goroutine?debug=1", 200, nil},
		{"/", 404, nil},
		{"/api/v1/devices", 404, nil},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			status, body := get(tc.path)
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}
