package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/provisor/provisor/core/internal/config"
	"github.com/provisor/provisor/core/internal/nbi"
	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

const cliUsage = `Usage:
  provisor device list [--where EXPR]... [--tag TAG]... [--online|--offline] [--sort FIELD] [--params P,...] [--limit N] [--all]
  provisor device get ID [--path PREFIX]...
  provisor device set ID NAME[:TYPE]=VALUE... [--now]
  provisor device reboot|refresh ID [PATH] [--now]
  provisor device tag|untag ID TAG...
  provisor device delete ID --yes
  provisor device credential show|delete ID
  provisor task list [--device ID] [--state STATE] [--limit N] [--all]
  provisor task get ID
  provisor task create (--device ID | --where EXPR... --tag TAG...) --kind KIND [--args JSON] [--file ID] [--now] [--expires 24h] [--dry-run]
  provisor task create (--device ID | --where EXPR... --tag TAG...) --plugin ID --function NAME [--args JSON-ARRAY] [--now] …
  provisor task cancel ID
  provisor file list [--type TYPE] [--device ID]
  provisor file upload PATH --type TYPE [--name NAME] [--version V] [--product-class PC]
  provisor file download ID [-O PATH|-]
  provisor file delete ID
  provisor token create --role viewer|operator|admin [--name NAME] [--expires 720h] [--database FILE | --config FILE]
  provisor token list
  provisor token revoke ID

Every command but "token create" calls the API: --api URL (or PROVISOR_API_URL,
default http://127.0.0.1:7557) with the token in PROVISOR_TOKEN, or "url:" and
"token:" in the CLI configuration file (PROVISOR_CLI_CONFIG, default
~/.config/provisor/cli.yaml). Output is a table; -o json prints the API's JSON.
"token create" writes to the database directly (it works before any token
exists, and while the server runs) and prints the token once.
`

// runCLI runs the device, task, file and token commands; args start with
// the command's name.
func runCLI(args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[1] == "help" || args[1] == "-h" || args[1] == "--help" {
		fmt.Fprint(stderr, cliUsage)
		if len(args) < 2 {
			return flag.ErrHelp
		}
		return nil
	}
	cmd := args[0] + " " + args[1]
	rest := args[2:]
	if cmd == "token create" {
		return tokenCreate(rest, stdout, stderr)
	}
	run, ok := cliActions[cmd]
	if !ok {
		fmt.Fprint(stderr, cliUsage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &cliClient{out: stdout}
	fs.StringVar(&c.base, "api", "", "API base URL (env PROVISOR_API_URL)")
	fs.StringVar(&c.format, "o", "table", "output: table or json")
	act := run(fs)
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	if c.format != "table" && c.format != "json" {
		return fmt.Errorf("-o %q: want table or json", c.format)
	}
	if err := c.setup(); err != nil {
		return err
	}
	return act(c, pos)
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments ("device get ID --path X").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// cliClient calls the API.
type cliClient struct {
	base   string
	token  string
	format string
	out    io.Writer
	http   *http.Client
}

type cliFile struct {
	URL   string `yaml:"url"`
	Token string `yaml:"token"`
}

func (c *cliClient) setup() error {
	var f cliFile
	path := os.Getenv("PROVISOR_CLI_CONFIG")
	explicit := path != ""
	if !explicit {
		if dir, err := os.UserConfigDir(); err == nil {
			path = filepath.Join(dir, "provisor", "cli.yaml")
		}
	}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			dec := yaml.NewDecoder(bytes.NewReader(data))
			dec.KnownFields(true)
			if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("%s: %w", path, err)
			}
		case explicit || !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	if c.base == "" {
		c.base = os.Getenv("PROVISOR_API_URL")
	}
	if c.base == "" {
		c.base = f.URL
	}
	if c.base == "" {
		c.base = "http://127.0.0.1:7557"
	}
	c.base = strings.TrimSuffix(c.base, "/")
	c.token = os.Getenv("PROVISOR_TOKEN")
	if c.token == "" {
		c.token = f.Token
	}
	if c.token == "" {
		return errors.New("no API token: set PROVISOR_TOKEN (create one with `provisor token create --role admin`)")
	}
	c.http = &http.Client{Timeout: 5 * time.Minute}
	return nil
}

// apiError is a problem document from the API.
type apiError struct {
	Status int
	nbi.Problem
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if e.Detail != "" && len(e.InvalidParams) == 0 {
		b.WriteString(": " + e.Detail)
	}
	for _, p := range e.InvalidParams {
		b.WriteString("; " + p.Name + ": " + p.Reason)
	}
	return b.String()
}

// call sends a request; a JSON body is marshalled, an io.Reader sent as
// is. The answer is decoded into out, or copied when out is an io.Writer.
func (c *cliClient) call(method, path string, q url.Values, body any, out any) error {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, rd)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &e.Problem) != nil {
			e.Detail = strings.TrimSpace(string(data))
		}
		return e
	}
	switch o := out.(type) {
	case nil:
		return nil
	case io.Writer:
		_, err := io.Copy(o, resp.Body)
		return err
	default:
		return json.NewDecoder(resp.Body).Decode(out)
	}
}

// show prints v as JSON with -o json, or calls table.
func (c *cliClient) show(v any, table func(w *tabwriter.Writer)) error {
	if c.format == "json" {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

func devPath(id string) string { return "/api/v1/devices/" + url.PathEscape(id) }

func need(pos []string, n int, what string) error {
	if len(pos) < n {
		return fmt.Errorf("missing %s", what)
	}
	return nil
}

func ago(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := time.Since(*t).Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String() + " ago"
	case d < 48*time.Hour:
		return d.Truncate(time.Minute).String() + " ago"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// Types of the API's answers, as much as the tables show.
type (
	cliDevice struct {
		ID              string         `json:"id"`
		ProductClass    string         `json:"productClass"`
		SoftwareVersion string         `json:"softwareVersion"`
		IP              string         `json:"ip"`
		LastInform      *time.Time     `json:"lastInform"`
		Online          bool           `json:"online"`
		Tags            []string       `json:"tags"`
		Parameters      []cliParameter `json:"parameters"`
		Credential      *struct {
			Set     bool `json:"set"`
			Pending bool `json:"pending"`
		} `json:"credential"`
		Raw json.RawMessage
	}
	cliParameter struct {
		Name     string `json:"name"`
		Value    string `json:"value"`
		Type     string `json:"type"`
		Writable *bool  `json:"writable"`
		Object   bool   `json:"object"`
	}
	cliTask struct {
		ID       int64           `json:"id"`
		DeviceID string          `json:"deviceId"`
		Kind     string          `json:"kind"`
		Args     json.RawMessage `json:"args"`
		State    string          `json:"state"`
		Attempts int             `json:"attempts"`
		Created  time.Time       `json:"created"`
		Result   json.RawMessage `json:"result"`
		Fault    *struct {
			Code    int
			Message string
		} `json:"fault"`
		ConnectionRequest *struct {
			Result  string `json:"result"`
			Success bool   `json:"success"`
			Error   string `json:"error"`
		} `json:"connectionRequest"`
	}
	cliFileMeta struct {
		ID           string    `json:"id"`
		Name         string    `json:"name"`
		Type         string    `json:"type"`
		Version      string    `json:"version"`
		ProductClass string    `json:"productClass"`
		Size         int64     `json:"size"`
		Source       string    `json:"source"`
		DeviceID     string    `json:"deviceId"`
		Created      time.Time `json:"created"`
	}
	cliToken struct {
		ID       int64      `json:"id"`
		Name     string     `json:"name"`
		Role     string     `json:"role"`
		Created  time.Time  `json:"created"`
		Expires  *time.Time `json:"expires"`
		LastUsed *time.Time `json:"lastUsed"`
		Revoked  *time.Time `json:"revoked"`
		Token    string     `json:"token"`
	}
)

type cliAction func(c *cliClient, pos []string) error

// cliActions maps "group verb" to a function that declares the verb's
// flags and returns its action.
var cliActions = map[string]func(fs *flag.FlagSet) cliAction{
	"device list": func(fs *flag.FlagSet) cliAction {
		var where, tags, params multi
		fs.Var(&where, "where", "condition <path><op><value>, op one of = != < <= > >= ^= (repeatable)")
		fs.Var(&tags, "tag", "tag the devices must have (repeatable)")
		fs.Var(&params, "params", "parameters to show (comma-separated, repeatable)")
		online := fs.Bool("online", false, "only online devices")
		offline := fs.Bool("offline", false, "only offline devices")
		sortBy := fs.String("sort", "", "sort field, - prefix for descending")
		limit := fs.Int("limit", 100, "devices per page")
		all := fs.Bool("all", false, "follow pages to the end")
		return func(c *cliClient, pos []string) error {
			q := url.Values{"where": where, "tag": tags}
			if len(params) > 0 {
				q["params"] = params
			}
			if *online || *offline {
				q.Set("online", strconv.FormatBool(*online))
			}
			if *sortBy != "" {
				q.Set("sort", *sortBy)
			}
			q.Set("limit", strconv.Itoa(*limit))
			var devices []json.RawMessage
			for {
				var page struct {
					Devices []json.RawMessage `json:"devices"`
					Next    string            `json:"next"`
				}
				if err := c.call("GET", "/api/v1/devices", q, nil, &page); err != nil {
					return err
				}
				devices = append(devices, page.Devices...)
				if !*all || page.Next == "" {
					if page.Next != "" && c.format == "table" {
						defer fmt.Fprintln(c.out, "(more: --all to list every page)")
					}
					break
				}
				q.Set("cursor", page.Next)
			}
			return c.show(map[string]any{"devices": devices}, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tPRODUCT CLASS\tSOFTWARE\tIP\tLAST INFORM\tONLINE\tTAGS")
				for _, raw := range devices {
					var d cliDevice
					_ = json.Unmarshal(raw, &d)
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", d.ID, d.ProductClass, d.SoftwareVersion, d.IP,
						ago(d.LastInform), d.Online, strings.Join(d.Tags, ","))
					for _, p := range d.Parameters {
						fmt.Fprintf(w, "  %s\t%s\t\t\t\t\t\n", p.Name, p.Value)
					}
				}
			})
		}
	},
	"device get": func(fs *flag.FlagSet) cliAction {
		var paths multi
		fs.Var(&paths, "path", "subtree or parameter to show (repeatable); default the whole tree")
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "device ID"); err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.call("GET", devPath(pos[0]), url.Values{"path": paths}, nil, &raw); err != nil {
				return err
			}
			var d cliDevice
			_ = json.Unmarshal(raw, &d)
			return c.show(raw, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s\t%s %s\t%s\tlast inform %s\tonline %v\n", d.ID, d.ProductClass, d.SoftwareVersion, d.IP, ago(d.LastInform), d.Online)
				if len(d.Tags) > 0 {
					fmt.Fprintf(w, "tags\t%s\n", strings.Join(d.Tags, ", "))
				}
				if cr := d.Credential; cr != nil {
					state := "shared bootstrap credential"
					if cr.Set {
						state = "its own"
					}
					if cr.Pending {
						state += " (a new one pending)"
					}
					fmt.Fprintf(w, "credential\t%s\n", state)
				}
				fmt.Fprintln(w, "\nNAME\tTYPE\tW\tVALUE")
				for _, p := range d.Parameters {
					if p.Object {
						continue
					}
					wr := "-"
					if p.Writable != nil && *p.Writable {
						wr = "w"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, p.Type, wr, p.Value)
				}
			})
		}
	},
	"device set": func(fs *flag.FlagSet) cliAction {
		now := fs.Bool("now", false, "wake the device with a connection request")
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 2, "device ID and NAME=VALUE"); err != nil {
				return err
			}
			var list []map[string]any
			for _, a := range pos[1:] {
				name, value, ok := strings.Cut(a, "=")
				if !ok {
					return fmt.Errorf("%q: want NAME=VALUE or NAME:TYPE=VALUE", a)
				}
				var v any = value
				if n, typ, ok := strings.Cut(name, ":"); ok {
					name, v = n, map[string]string{"Type": typ, "Text": value}
				}
				list = append(list, map[string]any{"Name": name, "Value": v})
			}
			return c.createTask(map[string]any{"device": pos[0], "kind": "SetParameterValues",
				"args": map[string]any{"ParameterList": list}}, *now)
		}
	},
	"device reboot": func(fs *flag.FlagSet) cliAction {
		now := fs.Bool("now", false, "wake the device with a connection request")
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "device ID"); err != nil {
				return err
			}
			return c.createTask(map[string]any{"device": pos[0], "kind": "Reboot"}, *now)
		}
	},
	"device refresh": func(fs *flag.FlagSet) cliAction {
		now := fs.Bool("now", false, "wake the device with a connection request")
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "device ID"); err != nil {
				return err
			}
			args := map[string]any{}
			if len(pos) > 1 {
				args["path"] = pos[1]
			}
			return c.createTask(map[string]any{"device": pos[0], "kind": "refresh", "args": args}, *now)
		}
	},
	"device tag": func(fs *flag.FlagSet) cliAction {
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 2, "device ID and tags"); err != nil {
				return err
			}
			var d cliDevice
			if err := c.call("POST", devPath(pos[0])+"/tags", nil, map[string]any{"tags": pos[1:]}, &d); err != nil {
				return err
			}
			return c.show(d, func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s\t%s\n", d.ID, strings.Join(d.Tags, ",")) })
		}
	},
	"device untag": func(fs *flag.FlagSet) cliAction {
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 2, "device ID and tags"); err != nil {
				return err
			}
			for _, t := range pos[1:] {
				if err := c.call("DELETE", devPath(pos[0])+"/tags/"+url.PathEscape(t), nil, nil, nil); err != nil {
					return err
				}
			}
			return nil
		}
	},
	"device delete": func(fs *flag.FlagSet) cliAction {
		yes := fs.Bool("yes", false, "really delete the device and everything stored about it")
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "device ID"); err != nil {
				return err
			}
			if !*yes {
				return errors.New("deleting a device removes its parameters, history and tasks: add --yes")
			}
			return c.call("DELETE", devPath(pos[0]), nil, nil, nil)
		}
	},
	"device credential": func(fs *flag.FlagSet) cliAction {
		return func(c *cliClient, pos []string) error {
			if len(pos) != 2 || (pos[0] != "show" && pos[0] != "delete") {
				return errors.New("want: device credential show|delete ID")
			}
			id := pos[1]
			if pos[0] == "delete" {
				// What a factory-reset device needs: it comes back with
				// the shared credential and is refused while it has one.
				if err := c.call("DELETE", devPath(id)+"/credential", nil, nil, nil); err != nil {
					return err
				}
				if c.format == "table" {
					fmt.Fprintf(c.out, "%s: credential deleted; its next session with the shared bootstrap credential is admitted and given a new one\n", id)
				}
				return nil
			}
			var d struct {
				ID         string `json:"id"`
				Credential struct {
					Set      bool       `json:"set"`
					Pending  bool       `json:"pending"`
					Username string     `json:"username"`
					Updated  *time.Time `json:"updated"`
				} `json:"credential"`
			}
			if err := c.call("GET", devPath(id), url.Values{"parameters": {"false"}}, nil, &d); err != nil {
				return err
			}
			return c.show(map[string]any{"id": d.ID, "credential": d.Credential}, func(w *tabwriter.Writer) {
				cr := d.Credential
				state := "none: the shared bootstrap credential is accepted"
				switch {
				case cr.Set && cr.Pending:
					state = "own, and a new one pending"
				case cr.Set:
					state = "own: the shared bootstrap credential is refused"
				case cr.Pending:
					state = "pending: sent to the device, not confirmed yet"
				}
				fmt.Fprintf(w, "%s\t%s\n", d.ID, state)
				if cr.Username != "" {
					fmt.Fprintf(w, "username\t%s\nupdated\t%s\n", cr.Username, ago(cr.Updated))
				}
			})
		}
	},
	"task list": func(fs *flag.FlagSet) cliAction {
		device := fs.String("device", "", "only this device's tasks")
		state := fs.String("state", "", "only tasks in this state")
		limit := fs.Int("limit", 100, "tasks per page")
		all := fs.Bool("all", false, "follow pages to the end")
		return func(c *cliClient, pos []string) error {
			q := url.Values{"limit": {strconv.Itoa(*limit)}}
			if *device != "" {
				q.Set("device", *device)
			}
			if *state != "" {
				q.Set("state", *state)
			}
			var tasks []cliTask
			for {
				var page struct {
					Tasks []cliTask `json:"tasks"`
					Next  string    `json:"next"`
				}
				if err := c.call("GET", "/api/v1/tasks", q, nil, &page); err != nil {
					return err
				}
				tasks = append(tasks, page.Tasks...)
				if !*all || page.Next == "" {
					break
				}
				q.Set("cursor", page.Next)
			}
			if c.format == "json" {
				// Re-fetching raw JSON would cost another round trip; the
				// table fields are what -o json promises for lists.
				return c.show(map[string]any{"tasks": tasks}, nil)
			}
			return c.show(nil, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tDEVICE\tKIND\tSTATE\tATTEMPTS\tCREATED\tFAULT")
				for _, t := range tasks {
					fault := ""
					if t.Fault != nil {
						fault = strconv.Itoa(t.Fault.Code) + " " + t.Fault.Message
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", t.ID, t.DeviceID, t.Kind, t.State, t.Attempts,
						t.Created.Local().Format("2006-01-02 15:04:05"), fault)
				}
			})
		}
	},
	"task get": func(fs *flag.FlagSet) cliAction {
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "task ID"); err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.call("GET", "/api/v1/tasks/"+url.PathEscape(pos[0]), nil, nil, &raw); err != nil {
				return err
			}
			var t cliTask
			_ = json.Unmarshal(raw, &t)
			return c.show(raw, func(w *tabwriter.Writer) { printTask(w, t) })
		}
	},
	"task create": func(fs *flag.FlagSet) cliAction {
		device := fs.String("device", "", "the device")
		var where, tags multi
		fs.Var(&where, "where", "filter condition (repeatable), instead of --device")
		fs.Var(&tags, "tag", "filter tag (repeatable), instead of --device")
		kind := fs.String("kind", "", "CWMP method, refresh, connectionRequest or plugin")
		plugin := fs.String("plugin", "", "plugin whose function to run (kind plugin, the default with --plugin)")
		function := fs.String("function", "", "the plugin function to run")
		args := fs.String("args", "", "arguments as JSON, e.g. '{\"ParameterNames\": [\"Device.DeviceInfo.\"]}'; for a plugin function a JSON array, e.g. '[\"7.16\"]'")
		file := fs.String("file", "", "stored file for Download")
		now := fs.Bool("now", false, "wake the devices with connection requests")
		expires := fs.String("expires", "", "expire tasks not run within this duration")
		dry := fs.Bool("dry-run", false, "only count the devices")
		return func(c *cliClient, pos []string) error {
			if *kind == "" && *plugin != "" {
				*kind = store.KindPlugin
			}
			body := map[string]any{"kind": *kind}
			if *plugin != "" {
				body["plugin"] = *plugin
			}
			if *function != "" {
				body["function"] = *function
			}
			if *device != "" {
				body["device"] = *device
			}
			if len(where) > 0 || len(tags) > 0 {
				body["filter"] = map[string]any{"where": where, "tags": tags}
			}
			if *args != "" {
				if !json.Valid([]byte(*args)) {
					return errors.New("--args is not valid JSON")
				}
				body["args"] = json.RawMessage(*args)
			}
			if *file != "" {
				body["file"] = *file
			}
			if *expires != "" {
				body["expiresIn"] = *expires
			}
			if *dry {
				body["dryRun"] = true
			}
			return c.createTask(body, *now)
		}
	},
	"task cancel": func(fs *flag.FlagSet) cliAction {
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "task ID"); err != nil {
				return err
			}
			var t cliTask
			if err := c.call("POST", "/api/v1/tasks/"+url.PathEscape(pos[0])+"/cancel", nil, nil, &t); err != nil {
				return err
			}
			return c.show(t, func(w *tabwriter.Writer) { printTask(w, t) })
		}
	},
	"file list": func(fs *flag.FlagSet) cliAction {
		typ := fs.String("type", "", "only files of this FileType")
		device := fs.String("device", "", "only files this device uploaded")
		return func(c *cliClient, pos []string) error {
			q := url.Values{}
			if *typ != "" {
				q.Set("type", *typ)
			}
			if *device != "" {
				q.Set("device", *device)
			}
			var page struct {
				Files []cliFileMeta `json:"files"`
			}
			if err := c.call("GET", "/api/v1/files", q, nil, &page); err != nil {
				return err
			}
			return c.show(page, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tTYPE\tVERSION\tSIZE\tSOURCE\tCREATED")
				for _, f := range page.Files {
					src := f.Source
					if f.DeviceID != "" {
						src += " " + f.DeviceID
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", f.ID, f.Name, f.Type, f.Version, f.Size, src,
						f.Created.Local().Format("2006-01-02 15:04"))
				}
			})
		}
	},
	"file upload": func(fs *flag.FlagSet) cliAction {
		typ := fs.String("type", "", `TR-069 FileType, e.g. "1 Firmware Upgrade Image" (required)`)
		name := fs.String("name", "", "name devices see (default: the file's base name)")
		version := fs.String("version", "", "version")
		pc := fs.String("product-class", "", "product class it is for")
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "file path"); err != nil {
				return err
			}
			f, err := os.Open(pos[0])
			if err != nil {
				return err
			}
			defer f.Close()
			q := url.Values{"type": {*typ}}
			if *name == "" {
				*name = filepath.Base(pos[0])
			}
			q.Set("name", *name)
			if *version != "" {
				q.Set("version", *version)
			}
			if *pc != "" {
				q.Set("productClass", *pc)
			}
			var m cliFileMeta
			if err := c.call("POST", "/api/v1/files", q, io.Reader(f), &m); err != nil {
				return err
			}
			return c.show(m, func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s\t%s\t%d bytes\n", m.ID, m.Name, m.Size) })
		}
	},
	"file download": func(fs *flag.FlagSet) cliAction {
		outPath := fs.String("O", "", "write to this file (- for standard output; default the file's name)")
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "file ID"); err != nil {
				return err
			}
			id := url.PathEscape(pos[0])
			dst := *outPath
			if dst == "" {
				var m cliFileMeta
				if err := c.call("GET", "/api/v1/files/"+id, nil, nil, &m); err != nil {
					return err
				}
				dst = filepath.Base(m.Name)
			}
			if dst == "-" {
				return c.call("GET", "/api/v1/files/"+id+"/content", nil, nil, c.out)
			}
			tmp, err := os.CreateTemp(filepath.Dir(dst), ".provisor-download-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if err := c.call("GET", "/api/v1/files/"+id+"/content", nil, nil, tmp); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), dst); err != nil {
				return err
			}
			if c.format == "table" {
				fmt.Fprintln(c.out, dst)
			}
			return nil
		}
	},
	"file delete": func(fs *flag.FlagSet) cliAction {
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "file ID"); err != nil {
				return err
			}
			return c.call("DELETE", "/api/v1/files/"+url.PathEscape(pos[0]), nil, nil, nil)
		}
	},
	"token list": func(fs *flag.FlagSet) cliAction {
		return func(c *cliClient, pos []string) error {
			var l struct {
				Tokens []cliToken `json:"tokens"`
			}
			if err := c.call("GET", "/api/v1/tokens", nil, nil, &l); err != nil {
				return err
			}
			return c.show(l, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tROLE\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
				for _, t := range l.Tokens {
					exp, rev := "never", ""
					if t.Expires != nil {
						exp = t.Expires.Local().Format("2006-01-02")
					}
					if t.Revoked != nil {
						rev = t.Revoked.Local().Format("2006-01-02 15:04")
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.Created.Local().Format("2006-01-02"), exp, ago(t.LastUsed), rev)
				}
			})
		}
	},
	"token revoke": func(fs *flag.FlagSet) cliAction {
		return func(c *cliClient, pos []string) error {
			if err := need(pos, 1, "token ID"); err != nil {
				return err
			}
			return c.call("DELETE", "/api/v1/tokens/"+url.PathEscape(pos[0]), nil, nil, nil)
		}
	},
}

func (c *cliClient) createTask(body map[string]any, now bool) error {
	if now {
		body["run"] = nbi.RunNow
	}
	var res struct {
		Count  int     `json:"count"`
		IDs    []int64 `json:"ids"`
		Run    string  `json:"run"`
		DryRun bool    `json:"dryRun"`
	}
	if err := c.call("POST", "/api/v1/tasks", nil, body, &res); err != nil {
		return err
	}
	return c.show(res, func(w *tabwriter.Writer) {
		switch {
		case res.DryRun:
			fmt.Fprintf(w, "%d devices match\n", res.Count)
		case res.Count == 1:
			fmt.Fprintf(w, "task %d queued (%s)\n", res.IDs[0], res.Run)
		default:
			fmt.Fprintf(w, "%d tasks queued (%s)\n", res.Count, res.Run)
		}
	})
}

func printTask(w *tabwriter.Writer, t cliTask) {
	fmt.Fprintf(w, "task\t%d\n", t.ID)
	fmt.Fprintf(w, "device\t%s\n", t.DeviceID)
	fmt.Fprintf(w, "kind\t%s\n", t.Kind)
	if t.Kind == store.KindPlugin {
		fmt.Fprintf(w, "function\t%s\n", t.Args)
	}
	fmt.Fprintf(w, "state\t%s (%d attempts)\n", t.State, t.Attempts)
	if len(t.Result) > 0 {
		fmt.Fprintf(w, "result\t%s\n", t.Result)
	}
	if t.Fault != nil {
		fmt.Fprintf(w, "fault\t%d %s\n", t.Fault.Code, t.Fault.Message)
	}
	if cr := t.ConnectionRequest; cr != nil {
		fmt.Fprintf(w, "connection request\t%s (success %v) %s\n", cr.Result, cr.Success, cr.Error)
	}
}

// tokenCreate makes a token in the database directly.
func tokenCreate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "viewer, operator or admin (required)")
	name := fs.String("name", "", "what the token is for (default: the role and time)")
	expires := fs.String("expires", "", "lifetime, e.g. 720h (default: no expiry)")
	database := fs.String("database", "", "database file (default: from the server configuration)")
	cfgPath := fs.String("config", os.Getenv("PROVISOR_CONFIG"), "server configuration file, for the database path")
	format := fs.String("o", "table", "output: table or json")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *name == "" {
		*name = *role + "-" + time.Now().UTC().Format("20060102T150405")
	}
	req := nbi.TokenRequest{Name: *name, Role: *role, ExpiresIn: *expires}
	exp, p := req.Check(time.Now())
	if p != nil {
		return fmt.Errorf("--%s: %s", p.InvalidParams[0].Name, p.InvalidParams[0].Reason)
	}
	if *database == "" {
		cfg, err := config.Load(*cfgPath, os.Environ())
		if err != nil {
			return err
		}
		*database = cfg.Database
	}
	secret, hash := nbi.NewToken()
	user := os.Getenv("USER")
	id, err := sqlite.AddTokenToFile(context.Background(), *database,
		store.Token{Name: *name, Role: *role, Hash: hash, Expires: exp, CreatedBy: "cli:" + user},
		sqlite.Options{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if *format == "json" {
		return json.NewEncoder(stdout).Encode(map[string]any{"id": id, "name": *name, "role": *role, "token": secret})
	}
	fmt.Fprintf(stdout, "%s\n", secret)
	fmt.Fprintf(stderr, "token %d (%s, role %s) created; it is shown only now: export PROVISOR_TOKEN=%s\n", id, *name, *role, secret)
	return nil
}
