package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// acsProbe samples a child ACS over a scenario's measured window through
// its debug listener: the store writer's counters at both ends (and its
// queue depth every 250ms in between), and optionally a CPU profile.
type acsProbe struct {
	base    string // http://host:port of the debug listener
	profile string // file for the CPU profile; empty: none
	seconds int

	client   http.Client
	from, to sqlite.Stats
	errFrom  error
	errTo    error
	stopPoll chan struct{}
	polls    sync.WaitGroup
	mu       sync.Mutex
	maxQueue int
	profErr  error
	profDone chan struct{}
}

func (p *acsProbe) start(ctx context.Context) {
	p.from, p.errFrom = p.stats(ctx)
	p.stopPoll = make(chan struct{})
	p.polls.Add(1)
	go func() {
		defer p.polls.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stopPoll:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if st, err := p.stats(ctx); err == nil {
					p.mu.Lock()
					p.maxQueue = max(p.maxQueue, st.QueueDepth)
					p.mu.Unlock()
				}
			}
		}
	}()
	if p.profile != "" {
		p.profDone = make(chan struct{})
		go func() {
			defer close(p.profDone)
			p.profErr = p.fetchProfile(ctx)
		}()
	}
}

func (p *acsProbe) stop() {
	if p.stopPoll == nil {
		return
	}
	close(p.stopPoll)
	p.polls.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.to, p.errTo = p.stats(ctx)
	if p.profDone != nil {
		// The profile covers the measured window; it ends on its own
		// right after it.
		select {
		case <-p.profDone:
		case <-time.After(time.Duration(p.seconds)*time.Second + 10*time.Second):
			p.profErr = errors.New("profile did not arrive in time")
		}
	}
}

func (p *acsProbe) stats(ctx context.Context) (sqlite.Stats, error) {
	var st sqlite.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/debug/store", nil)
	if err != nil {
		return st, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/debug/store: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (p *acsProbe) fetchProfile(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		p.base+"/debug/pprof/profile?seconds="+strconv.Itoa(p.seconds), nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/debug/pprof/profile: %s", resp.Status)
	}
	f, err := os.Create(p.profile)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writer summarizes the writer's work over the window.
func (p *acsProbe) writer() (string, error) {
	if err := errors.Join(p.errFrom, p.errTo); err != nil {
		return "", err
	}
	batches := p.to.Batches - p.from.Batches
	ops := p.to.Ops - p.from.Ops
	avg := 0.0
	var commit time.Duration
	if batches > 0 {
		avg = float64(ops) / float64(batches)
		commit = (p.to.CommitTime - p.from.CommitTime) / time.Duration(batches)
	}
	p.mu.Lock()
	maxQ := max(p.maxQueue, p.to.QueueDepth)
	p.mu.Unlock()
	return fmt.Sprintf("%d batches, %.1f ops each (max %d since start), %v per batch, queue max %d/%d, failed ops %d, trees written %d, skipped %d (%d without reading)",
		batches, avg, p.to.MaxBatch, commit.Round(time.Microsecond), maxQ, p.to.QueueCap,
		p.to.FailedOps-p.from.FailedOps, p.to.ParamWrites-p.from.ParamWrites, p.to.ParamSkips-p.from.ParamSkips, p.to.ParamMemoSkips-p.from.ParamMemoSkips), nil
}

func (p *acsProbe) profileErr() error {
	if p.profile == "" {
		return nil
	}
	return p.profErr
}
