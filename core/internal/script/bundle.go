package script

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// source is one file of a bundle, compiled.
type source struct {
	path string // slash-separated, relative to the root
	hash [32]byte
	prog *goja.Program // nil for JSON and for files that failed to compile
	json string        // the text of a .json file
	err  *FileError    // why prog is nil for a .js file
}

// Bundle is one immutable version of the scripts directory: its files
// compiled, its registrations, and a pool of runtimes that evaluated it. A
// session keeps the bundle it started with even when a newer one loads.
type Bundle struct {
	// Version counts the bundles the engine loaded, from 1.
	Version int64
	// Loaded is when the bundle was built; module code runs with this as
	// Date's "now".
	Loaded time.Time
	// Hash identifies the content of every file in the bundle.
	Hash string
	// Registrations are the handlers the entry scripts registered, in
	// the order they run.
	Registrations []*Registration
	// Errors are the problems found while loading; a file with an error
	// contributes no registrations, the other files are unaffected.
	Errors []*FileError

	e       *Engine
	files   map[string]*source
	entries []string // entry files that loaded, in load order
	kinds   [kindCount]bool
	pool    chan *vm
	retired atomic.Bool
	live    atomic.Int64 // runtimes created, for tests and metrics
}

// Entries lists the entry files that loaded without error.
func (b *Bundle) Entries() []string { return slices.Clone(b.entries) }

// Has reports whether some handler is registered for the kind of event.
func (b *Bundle) has(k kind) bool { return b.kinds[k] }

// acquire takes a runtime from the pool or makes one.
func (b *Bundle) acquire() (*vm, error) {
	select {
	case v := <-b.pool:
		return v, nil
	default:
	}
	v, err := newVM(b, false)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// release returns a runtime for reuse unless it is unfit or its bundle is
// gone.
func (b *Bundle) release(v *vm) {
	if v.broken || b.retired.Load() {
		v.close()
		return
	}
	select {
	case b.pool <- v:
	default:
		v.close()
	}
}

// retire drops the pooled runtimes of a bundle that is no longer current;
// runtimes still in use by sessions are dropped when they come back.
func (b *Bundle) retire() {
	b.retired.Store(true)
	for {
		select {
		case v := <-b.pool:
			v.close()
		default:
			return
		}
	}
}

// programCache shares compiled programs between bundles: a file that did
// not change between two loads is not compiled again.
type programCache struct {
	mu sync.Mutex
	m  map[[32]byte]*goja.Program
}

func (c *programCache) compile(name, text string, key [32]byte) (*goja.Program, error) {
	c.mu.Lock()
	p, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	// Parsing separately keeps the parser's positions, which
	// goja.Compile folds into a message.
	ast, err := parser.ParseFile(nil, name, wrapperPrefix+text+"\n})", 0)
	if err != nil {
		return nil, err
	}
	p, err = goja.CompileAST(ast, false)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[[32]byte]*goja.Program{}
	}
	c.m[key] = p
	c.mu.Unlock()
	return p, nil
}

// keep forgets every program the given bundle does not use; bundles still
// held by sessions keep theirs through their own pointers.
func (c *programCache) keep(b *Bundle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	used := make(map[[32]byte]bool, len(b.files))
	for _, s := range b.files {
		used[s.hash] = true
	}
	for k := range c.m {
		if !used[k] {
			delete(c.m, k)
		}
	}
}

// fileInfo is what the poller compares between two looks at the directory.
type fileInfo struct {
	path  string
	size  int64
	mtime int64
}

// scan lists the files a bundle is made of: *.js and *.json anywhere under
// root, except in hidden directories, node_modules and the top-level
// types directory.
func scan(root string) ([]fileInfo, error) {
	var out []fileInfo
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // a file that vanished mid-walk is picked up next time
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "node_modules") {
				return filepath.SkipDir
			}
			// The top-level types directory holds the typings and the
			// type-check set-up, no scripts.
			if filepath.Dir(p) == filepath.Clean(root) && name == "types" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(name, ".") {
			return nil
		}
		if !strings.HasSuffix(name, ".js") && !strings.HasSuffix(name, ".json") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil
		}
		out = append(out, fileInfo{path: filepath.ToSlash(rel), size: info.Size(), mtime: info.ModTime().UnixNano()})
		return nil
	})
	slices.SortFunc(out, func(a, b fileInfo) int { return strings.Compare(a.path, b.path) })
	return out, err
}

// build reads, hashes and compiles the files and evaluates the entry
// scripts once to learn their registrations. Problems in single files are
// recorded in the bundle; only an unreadable directory is an error.
func (e *Engine) build(files []fileInfo) (*Bundle, error) {
	o := e.opts
	b := &Bundle{e: e, files: map[string]*source{}, Loaded: time.Now(), pool: make(chan *vm, o.PoolSize)}
	h := sha256.New()
	if len(files) > o.MaxFiles {
		b.Errors = append(b.Errors, &FileError{File: ".", Message: fmt.Sprintf("%d files in the scripts directory; only the first %d are loaded", len(files), o.MaxFiles)})
		files = files[:o.MaxFiles]
	}
	for _, fi := range files {
		if fi.size > o.MaxFileBytes {
			b.Errors = append(b.Errors, &FileError{File: fi.path, Message: fmt.Sprintf("file of %d bytes exceeds the limit of %d", fi.size, o.MaxFileBytes)})
			continue
		}
		data, err := os.ReadFile(filepath.Join(o.Dir, filepath.FromSlash(fi.path)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			b.Errors = append(b.Errors, &FileError{File: fi.path, Message: err.Error()})
			continue
		}
		if int64(len(data)) > o.MaxFileBytes {
			b.Errors = append(b.Errors, &FileError{File: fi.path, Message: fmt.Sprintf("file of %d bytes exceeds the limit of %d", len(data), o.MaxFileBytes)})
			continue
		}
		src := &source{path: fi.path}
		kh := sha256.New()
		kh.Write([]byte(fi.path))
		kh.Write([]byte{0})
		kh.Write(data)
		copy(src.hash[:], kh.Sum(nil))
		h.Write(src.hash[:])
		text := strings.TrimPrefix(string(data), "\uFEFF")
		if strings.HasSuffix(fi.path, ".json") {
			src.json = text
		} else {
			if strings.HasPrefix(text, "#!") {
				// Keep the line so that line numbers stay right.
				text = "//" + text[2:]
			}
			prog, err := e.cache.compile(fi.path, text, src.hash)
			if err != nil {
				src.err = compileError(fi.path, text, err)
				// With chosen entries, a broken file nobody runs is not
				// worth reporting; one that is required reports itself.
				if len(o.Entries) == 0 || slices.Contains(cleanEntries(o.Entries), fi.path) {
					b.Errors = append(b.Errors, src.err)
				}
			}
			src.prog = prog
		}
		b.files[fi.path] = src
	}
	b.Hash = fmt.Sprintf("%x", h.Sum(nil))[:16]

	var entries []string
	if len(o.Entries) > 0 {
		for _, name := range cleanEntries(o.Entries) {
			if _, ok := b.files[name]; !ok {
				b.Errors = append(b.Errors, &FileError{File: name, Message: "no such script in " + o.Dir})
				continue
			}
			entries = append(entries, name)
		}
	} else {
		for _, fi := range files {
			if !strings.Contains(fi.path, "/") && strings.HasSuffix(fi.path, ".js") {
				entries = append(entries, fi.path)
			}
		}
	}
	for _, name := range entries {
		if src := b.files[name]; src != nil && src.err == nil {
			b.entries = append(b.entries, name)
		}
	}
	// The first runtime decides which entries load and what they register;
	// every later runtime of the bundle replays exactly that.
	v, err := newVM(b, true)
	if err != nil {
		return nil, err
	}
	b.Registrations = v.regMeta()
	for _, r := range b.Registrations {
		b.kinds[r.kind] = true
	}
	b.release(v)
	return b, nil
}

func cleanEntries(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = path.Clean(filepath.ToSlash(n))
	}
	return out
}
