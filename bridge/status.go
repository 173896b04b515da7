package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// StatusReport is what the shop's admin page shows under "Test connection".
type StatusReport struct {
	Version       string                    `json:"version"`
	StorageMode   string                    `json:"storage_mode"`
	TablePrefix   string                    `json:"table_prefix"`
	Database      string                    `json:"database"`
	OutboxBacklog int                       `json:"outbox_backlog"`
	Gateways      map[string]*GatewayStatus `json:"gateways"`
}

// GatewayStatus is one gateway's line in the StatusReport.
type GatewayStatus struct {
	Enabled              bool       `json:"enabled"`
	Configured           bool       `json:"configured"`
	Reachable            bool       `json:"reachable"`
	ReachabilityChecked  bool       `json:"reachability_checked"`
	Callbacks            bool       `json:"callbacks"`
	CallbackURL          string     `json:"callback_url,omitempty"`
	LastCallbackAccepted *time.Time `json:"last_callback_accepted"`
	LastCallbackRejected *time.Time `json:"last_callback_rejected"`
	LastRejectedReason   string     `json:"last_rejected_reason,omitempty"`
	// RecentRejections are the last refused callbacks this replica saw,
	// newest first (kept in memory only; a restart forgets them).
	RecentRejections []Rejection `json:"recent_rejections,omitempty"`
	// CallbacksRejected and CallbacksRateLimited count refused callbacks
	// since this replica started.
	CallbacksRejected    int64  `json:"callbacks_rejected"`
	CallbacksRateLimited int64  `json:"callbacks_rate_limited"`
	Problem              string `json:"problem,omitempty"`
	// ProblemPayments counts the watched payments whose last look left an
	// error (the gateway failing, money that does not count, such as a
	// test-mode payment); LastPaymentProblem says the latest.
	ProblemPayments    int    `json:"problem_payments"`
	LastPaymentProblem string `json:"last_payment_problem,omitempty"`
}

// reachableProbeID is a payment id no gateway has: asking for it shows
// whether the gateway answers at all. Letters and digits only, so that no
// client refuses it before asking (some gateways' ids are alphanumeric).
const reachableProbeID = "wcbridgeprobe0000"

// Status reports the storage mode, each gateway's configuration and
// reachability, the last callbacks and the outbox backlog. callbackURL maps
// a gateway name to the URL to paste into its dashboard. Without probe the
// gateways are not asked (Reachable stays false, ReachabilityChecked says
// so): the plugin's cached "can checkout offer this method" check is cheap.
func (s *Service) Status(ctx context.Context, callbackURL func(string) string, probe bool) *StatusReport {
	r := &StatusReport{Database: "ok", Gateways: map[string]*GatewayStatus{}}
	if mode, err := s.Orders.StorageMode(ctx); err != nil {
		r.Database, r.StorageMode = ErrorMessage(err), "unknown"
	} else {
		r.StorageMode = string(mode)
	}
	if n, err := s.Outbox.Backlog(ctx); err == nil {
		r.OutboxBacklog = n
	} else {
		r.Database = "unavailable"
	}
	last, _ := s.Callbacks.LastCallbacks(ctx)
	problems, _ := s.Payments.PaymentProblems(ctx)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range s.Gateways.Names() {
		gs := &GatewayStatus{}
		r.Gateways[name] = gs
		if sum, ok := last[name]; ok {
			gs.LastCallbackAccepted = sum.LastAccepted
		}
		gs.RecentRejections, gs.CallbacksRejected, gs.CallbacksRateLimited = s.Rejections.Recent(name)
		if len(gs.RecentRejections) > 0 {
			at := gs.RecentRejections[0].At
			gs.LastCallbackRejected, gs.LastRejectedReason = &at, gs.RecentRejections[0].Reason
		}
		if pp, ok := problems[name]; ok {
			gs.ProblemPayments = pp.Count
			gs.LastPaymentProblem = fmt.Sprintf("order %d (payment %d, %s): %s", pp.OrderID, pp.PaymentID, pp.At.UTC().Format(time.RFC3339), pp.Error)
		}
		gw, err := s.Gateways.Gateway(name)
		if err != nil {
			gs.Problem = ErrorMessage(err)
			gs.Enabled = !errors.Is(err, ErrGatewayDisabled) && !errors.Is(err, ErrUnknownGateway)
			continue
		}
		gs.Enabled, gs.Configured = true, true
		gs.Callbacks = gw.Capabilities().Callbacks
		if gs.Callbacks && callbackURL != nil {
			gs.CallbackURL = callbackURL(name)
		}
		if !probe {
			continue
		}
		gs.ReachabilityChecked = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err := gw.PaymentState(pctx, reachableProbeID)
			mu.Lock()
			defer mu.Unlock()
			// Any answer from the gateway (even "no such payment") proves it
			// is reachable; a transport failure or 5xx does not.
			gs.Reachable = err == nil || ErrorCode(err) == EGATEWAY || ErrorCode(err) == ENOTFOUND
			if !gs.Reachable {
				gs.Problem = ErrorMessage(err)
			}
		}()
	}
	wg.Wait()
	return r
}
