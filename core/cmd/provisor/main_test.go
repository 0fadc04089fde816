package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/config"
	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/server/authtest"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/soap"
	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"

	_ "github.com/mattn/go-sqlite3"
)

// When the test binary is started with PROVISOR_TEST_SERVE set, it is the
// server: the kill test runs the real `provisor serve` code in a child
// process that it can SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("PROVISOR_TEST_SERVE") != "" {
		if err := serve(nil, os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROVISOR_TEST_SERVE=1", "PROVISOR_LISTEN=127.0.0.1:0", "PROVISOR_API_LISTEN=127.0.0.1:0", "PROVISOR_DATA_DIR="+dir, "PROVISOR_SESSION_EXCHANGE_TIMEOUT=5s")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`cpe=(127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(out)
	addr := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		return &child{cmd: cmd, addr: a}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("server did not start")
	}
	return nil
}

// post sends one CWMP message (nil: the empty POST) on client and decodes
// the answer.
func post(t *testing.T, client *http.Client, url string, env *cwmp.Envelope) (int, *cwmp.Envelope) {
	t.Helper()
	var body []byte
	if env != nil {
		body = soap.Encode(nil, env, soap.Options{})
	}
	resp, err := client.Post(url, "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if len(data) == 0 {
		return resp.StatusCode, nil
	}
	out, err := soap.Decode(data, soap.Limits{})
	if err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return resp.StatusCode, out
}

// The server is killed with SIGKILL while a task is on the wire; after a
// restart the task runs again and completes, and the database is intact.
func TestKillAndRestartResumesTasks(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	dbPath := filepath.Join(dir, "provisor.db")
	devID := store.DeviceIDFrom("00D0B7", "KillGW", "SN-KILL")

	st, err := sqlite.Open(ctx, dbPath, sqlite.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertDevice(ctx, store.Device{ID: devID, OUI: "00D0B7", ProductClass: "KillGW", SerialNumber: "SN-KILL"}); err != nil {
		t.Fatal(err)
	}
	task, _ := session.NewTask(devID, &cwmp.GetParameterValues{ParameterNames: []string{"Device.DeviceInfo.UpTime"}})
	tid, err := st.AddTask(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(ctx); err != nil {
		t.Fatal(err)
	}

	inform := &cwmp.Envelope{Namespace: cwmp.NS10, Body: &cwmp.Inform{
		DeviceID: cwmp.DeviceID{Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "KillGW", SerialNumber: "SN-KILL"},
		Events:   []cwmp.EventStruct{{EventCode: cwmp.EventPeriodic}}, MaxEnvelopes: 1,
		ParameterList: []cwmp.ParameterValue{{Name: "Device.DeviceInfo.SoftwareVersion", Value: cwmp.String("2.0")}},
	}}
	// First run: the ACS sends the task's RPC, then dies before the answer.
	c := startChild(t, dir)
	url := "http://" + c.addr + "/"
	client := cpeClient(t, dir)
	if st, _ := post(t, client, url, inform); st != http.StatusOK {
		t.Fatalf("Inform %d", st)
	}
	st1, req := post(t, client, url, nil)
	if st1 != http.StatusOK || req == nil || req.Body.Method() != "GetParameterValues" {
		t.Fatalf("want the task's GPV, got %d %v", st1, req)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()

	// Second run: the task is queued again and completes.
	c = startChild(t, dir)
	url = "http://" + c.addr + "/"
	client = cpeClient(t, dir)
	if st, _ := post(t, client, url, inform); st != http.StatusOK {
		t.Fatalf("Inform %d", st)
	}
	st2, req := post(t, client, url, nil)
	if st2 != http.StatusOK || req == nil || req.Body.Method() != "GetParameterValues" {
		t.Fatalf("after restart: %d %v", st2, req)
	}
	answer := &cwmp.Envelope{Namespace: cwmp.NS10, Header: req.Header, Body: &cwmp.GetParameterValuesResponse{
		ParameterList: []cwmp.ParameterValue{{Name: "Device.DeviceInfo.UpTime", Value: cwmp.Uint(77)}},
	}}
	if st, _ := post(t, client, url, answer); st != http.StatusNoContent {
		t.Fatalf("end %d", st)
	}
	// Graceful stop this time.
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	st, err = sqlite.Open(ctx, dbPath, sqlite.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	got, err := st.Task(ctx, tid)
	if err != nil || got.State != store.StateDone || got.Attempts != 2 {
		t.Fatalf("task after restart: %+v %v", got, err)
	}
	tree, _ := st.Params(ctx, devID)
	if p, ok := tree.Get("Device.DeviceInfo.UpTime"); !ok || p.Value != "77" {
		t.Fatalf("value not stored: %+v", p)
	}
}

// cpeClient is a CPE's HTTP client that answers the ACS's Digest
// challenges with the bootstrap credential the server generated in dir.
func cpeClient(t *testing.T, dir string) *http.Client {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(dir, server.BootstrapFile))
	if err != nil {
		t.Fatal(err)
	}
	creds := authtest.Credentials{Username: "provisor-bootstrap", Password: strings.TrimSpace(string(pw))}
	return &http.Client{Timeout: 10 * time.Second, Transport: &authtest.Transport{Creds: creds}}
}

// serve --help lists every setting.
func TestServeHelp(t *testing.T) {
	var out bytes.Buffer
	err := serve([]string{"--help"}, io.Discard, &out)
	if err == nil || !strings.Contains(out.String(), "PROVISOR_SESSION_EXCHANGE_TIMEOUT") {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, k := range config.Keys {
		if !strings.Contains(out.String(), k.Env()) {
			t.Errorf("--help lacks %s", k.Env())
		}
	}
}

// run stops cleanly when its context ends.
func TestRunStopsOnCancel(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.APIListen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Database = filepath.Join(cfg.DataDir, "p.db")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	addr := <-ready
	resp, err := http.Get("http://" + addr.String() + "/")
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}
