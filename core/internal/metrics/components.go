package metrics

import "time"

// StoreStats is what the store's writer reports (sqlite.DB.Stats maps onto
// it one to one).
type StoreStats struct {
	Batches, Ops, FailedOps, FailedBatches uint64
	MaxBatch                               int
	QueueDepth, QueueCap                   int
	CommitTime                             time.Duration
	ParamWrites, ParamSkips                uint64
}

// RegisterStore exposes store writer statistics read from stats on each
// scrape: batches and operations (their ratio is the mean batch size),
// time spent committing (its rate over the batch rate is the mean commit
// latency), queue depth and failures.
func RegisterStore(r *Registry, stats func() StoreStats) {
	counter := func(name, help string, f func(StoreStats) float64) {
		r.NewCollector(name, help, KindCounter, nil, func(emit func(float64, ...string)) { emit(f(stats())) })
	}
	gauge := func(name, help string, f func(StoreStats) float64) {
		r.NewCollector(name, help, KindGauge, nil, func(emit func(float64, ...string)) { emit(f(stats())) })
	}
	counter("provisor_store_write_batches_total", "Write transactions committed.", func(s StoreStats) float64 { return float64(s.Batches) })
	counter("provisor_store_write_ops_total", "Write operations committed (batches hold several).", func(s StoreStats) float64 { return float64(s.Ops) })
	counter("provisor_store_write_failed_ops_total", "Write operations that returned an error.", func(s StoreStats) float64 { return float64(s.FailedOps) })
	counter("provisor_store_write_failed_batches_total", "Write transactions that failed as a whole.", func(s StoreStats) float64 { return float64(s.FailedBatches) })
	counter("provisor_store_commit_seconds_total", "Time spent in write transactions.", func(s StoreStats) float64 { return s.CommitTime.Seconds() })
	counter("provisor_store_param_writes_total", "Parameter trees written.", func(s StoreStats) float64 { return float64(s.ParamWrites) })
	counter("provisor_store_param_skips_total", "Parameter merges that changed nothing.", func(s StoreStats) float64 { return float64(s.ParamSkips) })
	gauge("provisor_store_write_batch_max", "Largest write batch so far.", func(s StoreStats) float64 { return float64(s.MaxBatch) })
	gauge("provisor_store_write_queue_depth", "Write operations waiting for the writer.", func(s StoreStats) float64 { return float64(s.QueueDepth) })
	gauge("provisor_store_write_queue_capacity", "Capacity of the write queue.", func(s StoreStats) float64 { return float64(s.QueueCap) })
}

// SessionStats is what the session engine counts (session.Manager.Stats).
type SessionStats struct {
	Started, Completed, Failed, Superseded, Refused, Shed int64
	Live                                                  int64
	RPCs                                                  int64
}

// RegisterSessions exposes session engine counters read on each scrape.
func RegisterSessions(r *Registry, stats func() SessionStats) {
	r.NewCollector("provisor_cwmp_sessions_total", "CWMP sessions by how they ended (started counts all).", KindCounter,
		[]string{"state"}, func(emit func(float64, ...string)) {
			s := stats()
			emit(float64(s.Started), "started")
			emit(float64(s.Completed), "completed")
			emit(float64(s.Failed), "failed")
			emit(float64(s.Superseded), "superseded")
			emit(float64(s.Refused), "refused")
			emit(float64(s.Shed), "shed")
		})
	r.NewCollector("provisor_cwmp_sessions_live", "CWMP sessions in progress.", KindGauge, nil,
		func(emit func(float64, ...string)) { emit(float64(stats().Live)) })
	r.NewCollector("provisor_cwmp_rpcs_sent_total", "RPCs sent to CPEs, all methods.", KindCounter, nil,
		func(emit func(float64, ...string)) { emit(float64(stats().RPCs)) })
}
