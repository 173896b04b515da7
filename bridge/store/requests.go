package store

import (
	"context"
	"fmt"
	"time"

	"github.com/wcbridge/wcbridge/bridge"
)

// SeenRequest records a signed request's id until expires and reports
// whether it was recorded already (a replay). The primary key decides, so
// two replicas receiving the same request at once record it once.
func (s *Store) SeenRequest(ctx context.Context, id string, expires time.Time) (bool, error) {
	if id == "" || len(id) > 64 {
		return false, bridge.Errorf(bridge.EINVALID, "request id must have 1 to 64 characters")
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO "+s.requests+" (request_id, expires_at) VALUES (?, ?)", id, dt(expires))
	if isDup(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("record request id: %w", dbError(err))
	}
	return false, nil
}
