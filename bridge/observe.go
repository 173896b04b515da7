package bridge

// What the HTTP server needs of the Service besides its use cases: the
// gateways a callback may name, the record of refused callbacks and the
// outcome count for metrics.

// GatewayNames lists the gateways the Service knows now.
func (s *Service) GatewayNames() []string { return s.Gateways.Names() }

// RecordRejection records a callback refused before it reached the
// Service (e.g. a body over the size limit).
func (s *Service) RecordRejection(gateway string, r Rejection) { s.Rejections.Add(gateway, r, nil) }

// RecordRateLimited records a callback refused by the rate limit.
func (s *Service) RecordRateLimited(gateway string) { s.Rejections.AddLimited(gateway) }

// ObserveOutcomes adds f to what is told each payment status applied to an
// order. Call it before Run.
func (s *Service) ObserveOutcomes(f func(gateway string, status PaymentStatus)) {
	prev := s.OnOutcome
	s.OnOutcome = func(gateway string, status PaymentStatus) {
		f(gateway, status)
		if prev != nil {
			prev(gateway, status)
		}
	}
}
