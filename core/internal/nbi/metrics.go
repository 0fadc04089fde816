package nbi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/provisor/provisor/core/internal/metrics"
)

func (s *Server) registerMetrics() {
	r := s.cfg.Registry
	s.webhookCounter = r.NewCounter("provisor_webhook_deliveries_total", "Webhook deliveries, by receiver host and result (ok, retry, failed, dropped).", "webhook", "result")
	var mu sync.Mutex
	var cached int64
	var at time.Time
	// Counting queued tasks walks an index; once per 5 s is plenty for a
	// scrape.
	r.NewCollector("provisor_task_queue_depth", "Tasks queued for their device's next session.", metrics.KindGauge, nil,
		func(emit func(float64, ...string)) {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(at) > 5*time.Second {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				n, err := s.st.QueuedTaskCount(ctx)
				cancel()
				if err == nil {
					cached, at = n, time.Now()
				}
			}
			emit(float64(cached))
		})
	if s.cfg.ConnReq != nil {
		cr := s.cfg.ConnReq
		r.NewGaugeFunc("provisor_connection_request_queue_depth", "Connection requests waiting to be sent.",
			func() float64 { return float64(cr.QueueLen()) })
	}
	r.NewGaugeFunc("provisor_api_event_streams", "Open event streams.", func() float64 {
		s.events.mu.Lock()
		defer s.events.mu.Unlock()
		return float64(len(s.events.subs))
	})
}

func (s *Server) webhookResult(label, result string) { s.webhookCounter.Inc(label, result) }

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if err := queryParams(r).done(); err != nil {
		return err
	}
	s.cfg.Registry.Handler().ServeHTTP(w, r)
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz reports whether the store answers a read and commits a write in
// time; a load balancer takes the node out while it does not.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": err.Error()})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
