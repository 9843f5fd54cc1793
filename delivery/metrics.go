package delivery

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdrgw/cdrgw/cdr"
)

// Metrics are the engine's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	eventsAccepted *prometheus.CounterVec
	deliveries     *prometheus.CounterVec
	latency        *prometheus.HistogramVec
}

// NewMetrics registers the engine's metrics with reg. stats, when not nil,
// backs the queue depth and oldest-pending-age gauges.
func NewMetrics(reg prometheus.Registerer, stats func(ctx context.Context, now time.Time) (pending int64, oldest time.Time, err error)) *Metrics {
	m := &Metrics{
		eventsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdrgw_events_accepted_total",
			Help: "Events stored, by source kind, source name and event type (duplicates are not counted).",
		}, []string{"source_kind", "source", "type"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdrgw_deliveries_total",
			Help: "Delivery attempts by webhook and outcome: delivered, retry, failed or dead.",
		}, []string{"webhook", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cdrgw_attempt_duration_seconds",
			Help:    "Time from sending a request to reading the response head, by webhook.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"webhook"}),
	}
	reg.MustRegister(m.eventsAccepted, m.deliveries, m.latency)
	if stats != nil {
		reg.MustRegister(&queueCollector{stats: stats,
			depth:  prometheus.NewDesc("cdrgw_queue_depth", "Deliveries pending (due or scheduled).", nil, nil),
			oldest: prometheus.NewDesc("cdrgw_oldest_pending_age_seconds", "Age of the oldest pending delivery, 0 when none.", nil, nil),
		})
	}
	return m
}

func (m *Metrics) accepted(ev cdr.Event) {
	if m == nil {
		return
	}
	m.eventsAccepted.WithLabelValues(ev.Source.Kind, ev.Source.Name, string(ev.Type)).Inc()
}

func (m *Metrics) attempt(webhook, outcome string, latency time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(webhook, outcome).Inc()
	if latency > 0 {
		m.latency.WithLabelValues(webhook).Observe(latency.Seconds())
	}
}

type queueCollector struct {
	stats         func(ctx context.Context, now time.Time) (int64, time.Time, error)
	depth, oldest *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.oldest }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := time.Now()
	pending, oldest, err := c.stats(ctx, now)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = now.Sub(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}
