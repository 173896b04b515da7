package api

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	payments  *prometheus.CounterVec
	callbacks *prometheus.CounterVec
	rejects   *prometheus.CounterVec
}

// rejected counts a refused callback under its result and its reason.
func (m *metrics) rejected(gateway, reason string) {
	m.callbacks.WithLabelValues(gateway, "rejected").Inc()
	m.rejects.WithLabelValues(gateway, reason).Inc()
}

// newMetrics registers the sidecar's metrics. Backlog and lag are the values the
// background loop last measured.
func newMetrics(reg *prometheus.Registry, svc Service) *metrics {
	m := &metrics{
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wcbridge_payments_applied_total",
			Help: "Payment outcomes applied to orders, by gateway and payment status.",
		}, []string{"gateway", "status"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wcbridge_callbacks_total",
			Help: "Gateway callbacks received, by gateway and result (accepted, duplicate, rejected, rate_limited, busy, unavailable).",
		}, []string{"gateway", "result"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wcbridge_callbacks_rejected_total",
			Help: "Gateway callbacks refused after reading them (nothing is stored), by gateway and reason (signature invalid, request not signed, signature expired, malformed, body too large, gateway not enabled).",
		}, []string{"gateway", "reason"}),
	}
	reg.MustRegister(m.payments, m.callbacks, m.rejects,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wcbridge_reconcile_lag_seconds",
			Help: "How far behind schedule the last reconcile pass found the most overdue payment.",
		}, func() float64 { return svc.ReconcileLag().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wcbridge_outbox_backlog",
			Help: "Notifications to WordPress not yet delivered.",
		}, func() float64 { return float64(svc.OutboxBacklog()) }),
	)
	return m
}
