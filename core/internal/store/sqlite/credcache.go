package sqlite

import (
	"slices"
	"sync"

	"github.com/provisor/provisor/core/internal/store"
)

// credCache keeps recently read device credentials, since every session
// authenticates at least once and credentials change about once in a
// device's life (its rotation at 0 BOOTSTRAP, its activation).
//
// Every credential write goes through the writer, which drops the
// device's entry after the batch commits and before it acknowledges the
// write. A read that raced that write must not put back what it read
// before the commit: a reader notes the epoch before its query and stores
// its result only if no invalidation happened since.
type credCache struct {
	mu    sync.Mutex
	max   int
	epoch uint64
	m     map[string][]store.CPECredential
}

func (c *credCache) get(deviceID string) ([]store.CPECredential, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	creds, ok := c.m[deviceID]
	return creds, c.epoch, ok
}

// put stores what a read begun at epoch found, unless something was
// invalidated since.
func (c *credCache) put(deviceID string, creds []store.CPECredential, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 || epoch != c.epoch {
		return
	}
	if _, ok := c.m[deviceID]; !ok && len(c.m) >= c.max {
		for k := range c.m { // evict one, whichever
			delete(c.m, k)
			break
		}
	}
	c.m[deviceID] = creds
}

// invalidate drops the devices' entries.
func (c *credCache) invalidate(deviceIDs []string) {
	if len(deviceIDs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for _, id := range deviceIDs {
		delete(c.m, id)
	}
}

// credentialsChanged notes that the device's credentials change in this
// operation; the cache forgets them once the batch commits (or fails).
func (w *wtx) credentialsChanged(deviceID string) {
	w.credDevices = append(w.credDevices, deviceID)
}

// cloneCreds copies a cached slice for a caller, who may keep pointers
// into it.
func cloneCreds(creds []store.CPECredential) []store.CPECredential {
	if creds == nil {
		return nil
	}
	return slices.Clone(creds)
}
