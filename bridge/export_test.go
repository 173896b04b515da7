package bridge

import "context"

// OutboxLoop and KickOutbox expose the outbox loop to the package's
// external tests.
func (s *Service) OutboxLoop(ctx context.Context, c WorkerConfig) { s.outboxLoop(ctx, c) }
func (s *Service) KickOutbox()                                    { s.kickOutbox() }
