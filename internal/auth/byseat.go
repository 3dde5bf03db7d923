package auth

import (
	"context"
	"database/sql"
	"errors"
)

// UserBySeat returns the name of the operator whose seat is seat ("" when
// none): the callback worklist assigns tasks to the operator of a ready seat.
func (s *Store) UserBySeat(ctx context.Context, seat string) (string, error) {
	var name string
	err := s.db.R.QueryRowContext(ctx, `SELECT name FROM users WHERE seat_id = ? AND role = ? ORDER BY name LIMIT 1`, seat, RoleOperator).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, err
}
