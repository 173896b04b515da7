package bridge

import (
	"context"
	"sync"
	"time"
)

// Reconciling: looking at live payments at the gateway on a schedule, and
// re-checking an order's payment on request.

// checkDelay spaces the reconciler's looks at a payment by its age: often
// while a customer is likely paying, rarely once it is old.
func checkDelay(age time.Duration) time.Duration {
	switch {
	case age < 10*time.Minute:
		return 15 * time.Second
	case age < time.Hour:
		return time.Minute
	case age < 6*time.Hour:
		return 5 * time.Minute
	case age < 24*time.Hour:
		return 15 * time.Minute
	}
	return time.Hour
}

// never is the next check of a payment the reconciler gave up on.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Reconcile polls the gateways for up to limit due payments (batched where
// the gateway can), applies what changed, and re-applies outcomes a failure
// left unapplied. Safe with several replicas: payments are leased.
func (s *Service) Reconcile(ctx context.Context, limit int) (int, error) {
	ps, err := s.Payments.ClaimDue(ctx, s.Owner, PaymentFilter{DueAt: s.now(), Limit: limit}, s.lease())
	if err != nil {
		return 0, err
	}
	byGateway := map[string][]*Payment{}
	var lag time.Duration
	for _, p := range ps {
		if d := s.now().Sub(p.NextCheckAt); d > lag {
			lag = d
		}
		byGateway[p.Gateway] = append(byGateway[p.Gateway], p)
	}
	var wg sync.WaitGroup
	for name, list := range byGateway {
		wg.Add(1)
		go func(name string, list []*Payment) {
			defer wg.Done()
			s.reconcileGateway(ctx, name, list)
		}(name, list)
	}
	wg.Wait()
	s.lag.Store(int64(lag))
	return len(ps), nil
}

func (s *Service) reconcileGateway(ctx context.Context, name string, ps []*Payment) {
	gw, gwErr := s.Gateways.Gateway(name)
	states := map[string]*GatewayState{}
	var batchErr error
	if bg, ok := gw.(BatchGateway); ok && gwErr == nil && gw.Capabilities().BatchSize > 0 {
		var ids []string
		for _, p := range ps {
			if p.GatewayID != "" && (!p.Status.Final() || p.Watch) {
				ids = append(ids, p.GatewayID)
			}
		}
		size := gw.Capabilities().BatchSize
		for i := 0; i < len(ids); i += size {
			j := min(i+size, len(ids))
			got, err := bg.PaymentStates(ctx, ids[i:j])
			if err != nil {
				batchErr = err
				continue
			}
			for k, v := range got {
				states[k] = v
			}
		}
	}
	plans := make([]Reschedule, 0, len(ps))
	now := s.now() // one instant per pass, so the plans group into few writes
	for _, p := range ps {
		plans = append(plans, s.reconcileOne(ctx, now, gw, gwErr, p, states, batchErr))
	}
	if err := s.Payments.Reschedule(ctx, plans); err != nil {
		s.Logger.Warn("scheduling next checks failed", "gateway", name, "err", err)
	}
}

// reconcileOne looks at one payment and plans its next look.
func (s *Service) reconcileOne(ctx context.Context, now time.Time, gw Gateway, gwErr error, p *Payment, states map[string]*GatewayState, batchErr error) Reschedule {
	policy := s.Policy()
	cur := p
	var err error
	switch {
	case p.Status == PaymentCreating:
		// The process died during the gateway call; the customer never saw it.
		cur, err = s.Payments.UpdatePayment(ctx, p.ID, func(q *Payment) (*Notification, error) {
			if q.Status == PaymentCreating {
				q.Status, q.LastError = PaymentFailed, "creation did not finish"
			}
			return nil, nil
		})
	case p.Status.Final() && !p.Watch || p.GatewayID == "":
		if p.ApplyDue() {
			cur, err = s.catchUpOrder(ctx, p)
		}
	case gwErr != nil:
		err = gwErr
	default:
		st, ok := states[p.GatewayID]
		if !ok {
			if _, batched := gw.(BatchGateway); batched && gw.Capabilities().BatchSize > 0 && batchErr == nil {
				// The gateway does not know it (any more): nothing arrived.
				st = &GatewayState{GatewayID: p.GatewayID, Status: PaymentPending}
			} else if st, err = gw.PaymentState(ctx, p.GatewayID); err != nil {
				break
			}
		}
		cur, err = s.RecordGatewayState(ctx, p, st)
	}
	if cur == nil {
		cur = p
	}
	regular := s.CheckDelay(now.Sub(p.CreatedAt))
	plan := Reschedule{ID: p.ID, Lease: p.Lease, NextCheckAt: now.Add(regular)}
	switch {
	case err != nil:
		// Backed off on consecutive failures, never beyond the regular
		// pace: one failed look at an old payment must not park it.
		plan.NextCheckAt = now.Add(min(retryDelay(p.Failures), regular))
		plan.LastError, plan.Failed = truncate(err.Error(), 250), true
		s.Logger.Warn("reconcile failed; will retry", "payment_id", p.ID, "order_id", p.OrderID, "gateway", p.Gateway, "err", err)
	case cur.Status.Final() && !cur.ApplyDue() && !cur.Watch:
		plan.NextCheckAt = never
	case cur.Watch && now.Sub(cur.CreatedAt) > policy.GiveUpAfter && !cur.ApplyDue():
		plan.NextCheckAt = never // the gateway has long stopped retrying its callback
	case !cur.Status.Live() && !cur.ExpiresAt.IsZero() && now.Sub(cur.ExpiresAt) > policy.GiveUpAfter && !cur.ApplyDue():
		plan.NextCheckAt = never // long past expiry: only a callback can wake it now
	}
	return plan
}

// Recheck asks the gateway about the order's payments now (the customer's
// return, the shop's "re-check payment" button) and applies what changed.
func (s *Service) Recheck(ctx context.Context, orderID int64) (*OrderPaymentView, error) {
	ps, err := s.Payments.OrderPayments(ctx, orderID)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.GatewayID == "" || (p.Status.Final() && !p.ApplyDue() && !p.Watch) {
			continue
		}
		if p.Status.Final() && !p.Watch {
			if _, err := s.catchUpOrder(ctx, p); err != nil {
				return nil, err
			}
			continue
		}
		gw, err := s.Gateways.Gateway(p.Gateway)
		if err != nil {
			return nil, err
		}
		st, err := gw.PaymentState(ctx, p.GatewayID)
		if err != nil {
			return nil, err
		}
		if _, err := s.RecordGatewayState(ctx, p, st); err != nil {
			return nil, err
		}
	}
	return s.OrderPayment(ctx, orderID)
}
