package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// What a payment's status does to its WooCommerce order: the outcome, its
// note and meta, and the notes for money that cannot change the status.

// noteNotCounted tells the shop, once per payment, that the gateway reported
// money that does not count (st.NotCounted, kept in p.LastError).
func (s *Service) noteNotCounted(ctx context.Context, tx OrderTx, p *Payment) (OrderUpdate, *OrderResult, error) {
	u := OrderUpdate{
		OrderID:       p.OrderID,
		Outcome:       OutcomeNote,
		EventID:       fmt.Sprintf("wcbridge:%d:not-counted", p.ID),
		PaymentMethod: PaymentMethodPrefix + p.Gateway,
		Note:          fmt.Sprintf("%s payment %s: %s.", s.gatewayTitle(p.Gateway), p.GatewayID, p.LastError),
	}
	s.Logger.Warn("gateway reported a payment that does not count", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "reason", p.LastError)
	res, err := tx.ApplyOrder(ctx, u)
	switch {
	case errors.Is(err, ErrPaymentMethod), errors.Is(err, ErrOrderStatus):
		return u, nil, nil // the order moved on; the payment's last error still says it
	case err != nil:
		return u, nil, fmt.Errorf("note on order %d: %w", p.OrderID, err)
	}
	return u, res, nil
}

// updateOrder writes p's status to its WooCommerce order; prev is p's status
// before the report being applied. A nil result means the order was not to
// be touched (or its status does not allow it); the payment is then marked
// applied all the same.
func (s *Service) updateOrder(ctx context.Context, tx OrderTx, p *Payment, prev PaymentStatus, policy Policy) (OrderUpdate, *OrderResult, error) {
	u, skip, err := s.orderUpdate(ctx, tx, p, prev, policy)
	if err != nil || skip {
		return u, &OrderResult{}, err
	}
	res, err := tx.ApplyOrder(ctx, u)
	if errors.Is(err, ErrPaymentMethod) {
		// The customer switched the order to another payment method (the
		// order-pay page) after this payment was made, and paid it anyway.
		// The money still counts for the order.
		if u, err = s.switchedMethod(ctx, tx, p, u); err != nil {
			return u, nil, err
		}
		res, err = tx.ApplyOrder(ctx, u)
	}
	switch {
	case errors.Is(err, ErrSuperseded):
		return u, nil, err
	case errors.Is(err, ErrOrderStatus):
		// The order moved on (refunded, completed by hand, ...). Money that
		// arrived is still worth a note: nothing is dropped silently.
		if p.Status.Money() {
			return s.noteOnly(ctx, tx, p, u, "The order's status did not allow it to change, so only this note was added: please check the order and refund if needed.")
		}
		s.Logger.Info("order status does not allow payment outcome; recorded only", "order_id", p.OrderID, "payment_id", p.ID, "status", p.Status, "err", err)
		return u, &OrderResult{}, nil
	case err != nil:
		return u, nil, fmt.Errorf("apply payment %d to order %d: %w", p.ID, p.OrderID, err)
	case !res.Changed && !res.Duplicate && u.Outcome == OutcomePaid:
		// Already paid: by this payment (a crash after the order update, or
		// a larger amount reported since), or by another one, which makes
		// this a second payment.
		o, err := tx.Order(ctx, p.OrderID)
		if err != nil {
			return u, nil, fmt.Errorf("load order %d: %w", p.OrderID, err)
		}
		pid := o.Meta[MetaGatewayPaymentID]
		switch {
		case pid == p.GatewayID && p.Status == PaymentOverpaid:
			// This payment paid the order; a verified larger amount came
			// since: the excess is noted, with the payment's figures.
			u2 := u
			u2.Outcome, u2.LateOutcome, u2.LateNote, u2.TransactionID = OutcomeNote, "", "", ""
			return s.writeNote(ctx, tx, p, u, u2)
		case pid == "" || pid == p.GatewayID:
			return u, res, nil
		}
		s.Logger.Warn("second payment for an order that was already paid", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "received", moneyText(p.Received, p.Amount))
		u2 := u
		// One note per second payment, whatever its classification: a later
		// report with other figures replaces the note's text.
		u2.Outcome, u2.EventID, u2.Meta, u2.LateOutcome, u2.LateNote, u2.TransactionID = OutcomeNote, fmt.Sprintf("wcbridge:%d:second", p.ID), nil, "", "", ""
		u2.ReplaceNote = true
		u2.Note = fmt.Sprintf("A second payment was received via %s (payment %s, %s) for an order that was already paid. Please check and refund it if needed.", s.gatewayTitle(p.Gateway), p.GatewayID, moneyText(p.Received, p.Amount))
		return s.writeNote(ctx, tx, p, u, u2)
	}
	return u, res, nil
}

// noteOnly writes u's note (with extra appended) without changing the
// order's status.
func (s *Service) noteOnly(ctx context.Context, tx OrderTx, p *Payment, u OrderUpdate, extra string) (OrderUpdate, *OrderResult, error) {
	u2 := u
	u2.Outcome, u2.LateOutcome, u2.LateNote, u2.TransactionID = OutcomeNote, "", "", ""
	u2.Note = strings.TrimSpace(u.Note + " " + extra)
	s.Logger.Warn("money arrived for an order whose status does not allow the outcome; noted", "order_id", p.OrderID, "payment_id", p.ID, "gateway", p.Gateway, "status", p.Status)
	return s.writeNote(ctx, tx, p, u, u2)
}

// writeNote applies the note-only update u2 made in place of u.
func (s *Service) writeNote(ctx context.Context, tx OrderTx, p *Payment, u, u2 OrderUpdate) (OrderUpdate, *OrderResult, error) {
	res, err := tx.ApplyOrder(ctx, u2)
	switch {
	case errors.Is(err, ErrSuperseded):
		return u, nil, err
	case errors.Is(err, ErrOrderStatus):
		return u, &OrderResult{}, nil
	case err != nil:
		return u, nil, fmt.Errorf("note payment %d on order %d: %w", p.ID, p.OrderID, err)
	}
	return u2, res, nil
}

// switchedMethod adapts u to an order whose payment method changed since p
// was made: the outcome is applied all the same, with a note saying which
// gateway the money came through; an order now to be paid outside
// wcbridge only gets the note, for the shop to decide.
func (s *Service) switchedMethod(ctx context.Context, tx OrderTx, p *Payment, u OrderUpdate) (OrderUpdate, error) {
	o, err := tx.Order(ctx, p.OrderID)
	if err != nil {
		return u, fmt.Errorf("load order %d: %w", p.OrderID, err)
	}
	u.PaymentMethod = o.PaymentMethod
	if strings.HasPrefix(o.PaymentMethod, PaymentMethodPrefix) {
		u.Note += fmt.Sprintf(" The order had since been switched to %s; this payment was made with %s.", s.gatewayTitle(strings.TrimPrefix(o.PaymentMethod, PaymentMethodPrefix)), s.gatewayTitle(p.Gateway))
		return u, nil
	}
	u.Note = fmt.Sprintf("%s The order had since been switched to the payment method %q, so its status was not changed: please complete the order or refund this payment.", u.Note, o.PaymentMethod)
	u.Outcome, u.LateOutcome, u.TransactionID = OutcomeNote, "", ""
	return u, nil
}

// orderUpdate builds the order outcome for p's status, or skip=true when the
// order is not to be touched; prev is p's status before this report.
func (s *Service) orderUpdate(ctx context.Context, tx OrderTx, p *Payment, prev PaymentStatus, policy Policy) (OrderUpdate, bool, error) {
	u := OrderUpdate{
		OrderID:       p.OrderID,
		EventID:       outcomeEvent(p.ID, p.Status),
		SupersededBy:  supersededBy(p),
		PaymentMethod: PaymentMethodPrefix + p.Gateway,
		PaidStatus:    policy.PaidStatus,
		Meta: map[string]string{
			"_wcbridge_gateway":  p.Gateway,
			MetaGatewayPaymentID: p.GatewayID,
			MetaPayment:          paymentMeta(p),
		},
	}
	if u.PaidStatus == "" {
		// "auto": what the shop's WooCommerce filters said at checkout.
		u.PaidStatus = p.PaidStatus
	}
	title := s.gatewayTitle(p.Gateway)
	ref := p.GatewayID
	if p.TxRef != "" {
		ref += ", transaction " + p.TxRef
	}
	if g := gatewayFigures(p); g != "" {
		ref += ", " + g
	}
	const lateNote = "The payment arrived after the payment window closed or the order was cancelled: please check that the items are still in stock."
	failedNote := ""
	if prev == PaymentFailed {
		failedNote = " Creating this payment had been reported as failed at checkout, but the gateway had created it and it was paid."
	}
	switch p.Status {
	case PaymentPaid, PaymentOverpaid:
		u.Outcome = OutcomePaid
		u.TransactionID = p.TxRef
		if u.TransactionID == "" {
			u.TransactionID = p.GatewayID
		}
		u.Note = fmt.Sprintf("Payment of %s received via %s (payment %s).", moneyText(p.Received, p.Amount), title, ref)
		if p.Status == PaymentOverpaid {
			if p.Received.IsZero() {
				u.Note = fmt.Sprintf("Overpayment received via %s (payment %s): the gateway reports more than the order total of %s.", title, ref, p.Amount)
			} else {
				u.Note = fmt.Sprintf("Overpayment received via %s (payment %s): %s received for an order total of %s, an excess of %s %s.",
					title, ref, p.Received, p.Amount, p.Excess().String(), p.Amount.Currency)
			}
		}
		u.Note += failedNote
		late := OutcomePaid
		if policy.LateOnHold {
			late = OutcomeOnHold
		}
		if p.AppliedStatus == PaymentExpired || p.AppliedStatus == PaymentCancelled {
			u.Outcome, u.Note = late, u.Note+" "+lateNote
		} else {
			// Decided by the store under its lock: the order may have been
			// cancelled by WooCommerce's timer while the customer paid.
			u.LateOutcome, u.LateNote = late, lateNote
		}
	case PaymentUnderpaid:
		u.Outcome = OutcomeOnHold
		u.CustomerNote = true
		u.Note = fmt.Sprintf("Underpayment via %s (payment %s): %s received of %s, %s %s short. The order is on hold until the rest arrives or the shop decides.%s",
			title, ref, p.Received, p.Amount, p.Shortfall().String(), p.Amount.Currency, failedNote)
		if p.Received.IsZero() {
			u.Note = fmt.Sprintf("Underpayment via %s (payment %s): less than the order total of %s arrived; the gateway did not say how much. The order is on hold until the rest arrives or the shop decides.%s",
				title, ref, p.Amount, failedNote)
		}
	case PaymentExpired, PaymentCancelled:
		// Never cancel an order another payment is now paying.
		ps, err := tx.OrderPayments(ctx, p.OrderID)
		if err != nil {
			return u, false, err
		}
		if live := livePaymentOf(ps); live != nil && live.ID != p.ID {
			return u, true, nil
		}
		o, err := tx.Order(ctx, p.OrderID)
		if err != nil {
			return u, false, fmt.Errorf("load order %d: %w", p.OrderID, err)
		}
		what := "expired"
		if p.Status == PaymentCancelled {
			what = "was cancelled"
		}
		u.Outcome = OutcomeNote
		u.Note = fmt.Sprintf("The %s payment %s %s without payment.", title, p.GatewayID, what)
		if policy.CancelOnExpiry && (o.Status == StatusPending || o.Status == StatusFailed || o.Status == StatusCheckoutDraft) {
			u.Outcome = OutcomeCancelled
			u.CustomerNote = true
			u.Note += " The order was cancelled."
		}
	default:
		return u, true, nil
	}
	return u, false, nil
}

// outcomeEvent is the event id of the order outcome of payment id's status.
func outcomeEvent(id int64, st PaymentStatus) string { return fmt.Sprintf("wcbridge:%d:%s", id, st) }

// supersededBy lists the outcomes of p's own statuses that make the outcome
// of its current status stale once they have reached the order: those of
// the statuses p cannot move from to the current one. An expiry never
// follows a payment (paid, then a report read before it said "expired"),
// while a late payment may follow an expiry.
func supersededBy(p *Payment) []string {
	var out []string
	for _, st := range []PaymentStatus{PaymentUnderpaid, PaymentPaid, PaymentOverpaid, PaymentExpired, PaymentCancelled} {
		if st != p.Status && !st.CanMove(p.Status) {
			out = append(out, outcomeEvent(p.ID, st))
		}
	}
	return out
}

// gatewayFigures shows the gateway's own figures where they are in another
// unit than the order (a token, or USD for a EUR order): "19.99 USDC
// received of 19.99 USDC asked".
func gatewayFigures(p *Payment) string {
	a, r := p.GatewayAmount, p.GatewayReceived
	if a.IsZero() || a.Currency == p.Amount.Currency {
		return ""
	}
	if r.IsZero() || r.Currency != a.Currency {
		return a.String() + " asked"
	}
	return r.String() + " received of " + a.String() + " asked"
}

// moneyText shows what arrived, or what was asked when the gateway gave no
// amount.
func moneyText(received, asked Money) string {
	if received.IsZero() {
		return asked.String()
	}
	return received.String()
}
