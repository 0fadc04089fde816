package pluginhost_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// TestFileStoreAdapter runs the plugins' view of files against the ACS's
// real file store.
func TestFileStoreAdapter(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(ctx) })
	fs, err := filestore.Open(ctx, st, filestore.Options{Dir: t.TempDir(), BaseURL: "https://acs.example.net:7547"})
	if err != nil {
		t.Fatal(err)
	}
	files := pluginhost.FromFileStore(fs)
	a, err := files.Put(ctx, pluginhost.FileInfo{Name: "routeros-7.14.2-arm.npk", FileType: "1 Firmware Upgrade Image", Version: "7.14.2", Plugin: "mikrotik"}, strings.NewReader("npk"))
	if err != nil || a.ID == "" || a.Size != 3 || a.Plugin != "mikrotik" {
		t.Fatalf("put %+v %v", a, err)
	}
	if _, err := files.Put(ctx, pluginhost.FileInfo{Name: "s.alter", FileType: "3 Vendor Configuration File"}, strings.NewReader("/log info x\n")); err != nil {
		t.Fatal(err)
	}
	list, err := files.List(ctx, pluginhost.FileQuery{FileType: "1 Firmware Upgrade Image", Version: "7.14.2", NamePrefix: "routeros-"})
	if err != nil || len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("list %+v %v", list, err)
	}
	for _, ref := range []string{a.ID, "s.alter"} {
		u, err := files.URL(ctx, ref, 0)
		if err != nil || !strings.HasPrefix(u, "https://acs.example.net:7547/files/") {
			t.Fatalf("URL(%s) = %s, %v", ref, u, err)
		}
		if ref == "s.alter" && !strings.HasSuffix(u, "/s.alter") {
			t.Fatalf("an .alter URL must end in the name: %s", u)
		}
	}
	if _, err := files.URL(ctx, "absent", 0); err == nil {
		t.Fatal("URL of an absent file")
	}
	if u, err := files.UploadURL(ctx, "E48D8C-RB-1", "1 Vendor Configuration File", 0); err != nil || !strings.Contains(u, "/files/u/") {
		t.Fatalf("upload URL %s %v", u, err)
	}
}
