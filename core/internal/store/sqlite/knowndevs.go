package sqlite

import "sync"

// knownDevices remembers IDs of devices that exist, so that a session
// telling a known device from a new one (DeviceExists, once per session)
// does not query for it. Only positive answers are kept: a new device is
// looked up until its first write commits.
//
// The writer adds a device once the batch that wrote its row has
// committed, and forgets it once a batch that deletes it has ended,
// before the delete is acknowledged. A reader that found a device in the
// database stores it only if no device was forgotten since its query
// began (the epoch), so a read that raced a delete cannot put it back.
type knownDevices struct {
	mu    sync.Mutex
	max   int
	epoch uint64
	m     map[string]struct{}
}

func (k *knownDevices) has(id string) (known bool, epoch uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, known = k.m[id]
	return known, k.epoch
}

// put stores what a read begun at epoch found, unless a device was
// forgotten since.
func (k *knownDevices) put(id string, epoch uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if epoch == k.epoch {
		k.addLocked(id)
	}
}

func (k *knownDevices) addLocked(id string) {
	if k.max <= 0 {
		return
	}
	if _, ok := k.m[id]; ok {
		return
	}
	if len(k.m) >= k.max {
		for old := range k.m { // evict one, whichever
			delete(k.m, old)
			break
		}
	}
	k.m[id] = struct{}{}
}

// apply makes a committed batch's device changes, in batch order.
func (k *knownDevices) apply(ops []knownOp) {
	if len(ops) == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range ops {
		if o.gone {
			k.epoch++
			delete(k.m, o.id)
		} else {
			k.addLocked(o.id)
		}
	}
}

// forget drops the devices a failed batch meant to delete: harmless if
// they still exist, and needed if the failure came after the delete took
// effect in some form.
func (k *knownDevices) forget(ops []knownOp) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range ops {
		if o.gone {
			k.epoch++
			delete(k.m, o.id)
		}
	}
}

// knownOp is a staged change: the device's row was written, or deleted.
type knownOp struct {
	id   string
	gone bool
}
