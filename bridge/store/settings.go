package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"

	"github.com/wcbridge/wcbridge/bridge"
	"github.com/wcbridge/wcbridge/bridge/mysqlkit"
)

// versionRow is the settings row that counts saves. Its name cannot be a
// setting's (those are dotted config paths); every save locks it first, so
// saves through different replicas run one after the other.
const versionRow = "#version"

// SettingsState is the shop owner's settings as stored, secrets decrypted.
type SettingsState struct {
	Values  map[string]string
	Version int64 // counts saves; 0 when nothing was ever saved
	// Unreadable names the stored values that could not be decrypted (sealed
	// under a key this sidecar does not have), with why; they are left out of
	// Values.
	Unreadable map[string]string
	// Plain lists secret settings stored unencrypted (saved by an older
	// version, or while no secrets.key was set).
	Plain []string
}

// SettingsVersion returns the settings' save counter: a cheap look that
// tells a replica whether it must read the settings again.
func (s *Store) SettingsVersion(ctx context.Context) (int64, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM "+s.settings+" WHERE name = ?", versionRow).Scan(&v)
	if err == sql.ErrNoRows {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("settings version: %w", dbError(err))
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n, nil
}

// Settings returns the settings pushed from WordPress.
func (s *Store) Settings(ctx context.Context) (*SettingsState, error) {
	st, err := s.readSettings(ctx, s.db, "")
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	return st, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readSettings reads every row on q; lock is "" or " FOR UPDATE".
func (s *Store) readSettings(ctx context.Context, q querier, lock string) (*SettingsState, error) {
	rows, err := q.QueryContext(ctx, "SELECT name, value FROM "+s.settings+lock)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	st := &SettingsState{Values: map[string]string{}, Unreadable: map[string]string{}}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, err
		}
		switch {
		case name == versionRow:
			st.Version, _ = strconv.ParseInt(value, 10, 64)
		case Sealed(value):
			if s.sealer == nil {
				st.Unreadable[name] = "encrypted, and secrets.key is not set"
				continue
			}
			plain, _, err := s.sealer.Open(name, value)
			if err != nil {
				st.Unreadable[name] = err.Error()
				continue
			}
			st.Values[name] = plain
		default:
			if value != "" && s.secret(name) {
				st.Plain = append(st.Plain, name)
			}
			st.Values[name] = value
		}
	}
	sort.Strings(st.Plain)
	return st, dbError(rows.Err())
}

// ErrNoSealer refuses to store a secret setting when no secrets.key is set:
// it would be stored readable by anyone who can read the database.
var ErrNoSealer = &bridge.Error{Code: bridge.ECONFLICT, Message: "secrets.key is not set on the sidecar, so secrets cannot be stored from WordPress"}

// UpdateSettings runs one save: it locks the settings, reads them, lets fn
// decide what to write from what is stored now, and writes only the names fn
// returns, with the save counter moved on, in one transaction. Saves through
// several replicas run one after the other and each sees the last one's
// result, so none can undo another with a stale copy. Secret settings are
// encrypted before they are written; without a sealer they are refused
// (ErrNoSealer). fn's error is returned as is and nothing is written.
func (s *Store) UpdateSettings(ctx context.Context, fn func(cur *SettingsState) (map[string]string, error)) (*SettingsState, error) {
	var st *SettingsState
	err := mysqlkit.Retry(ctx, 2, func() (err error) {
		st, err = s.updateSettings(ctx, fn)
		return err
	})
	return st, err
}

func (s *Store) updateSettings(ctx context.Context, fn func(cur *SettingsState) (map[string]string, error)) (*SettingsState, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("save settings: %w", dbError(err))
	}
	defer rollback(tx)
	now := s.nowUTC()
	// The version row is created if missing and locked: every save queues here.
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+s.settings+` (name, value, updated_at) VALUES (?, '0', ?)
ON DUPLICATE KEY UPDATE name = name`, versionRow, dt(now)); err != nil {
		return nil, fmt.Errorf("save settings: %w", dbError(err))
	}
	cur, err := s.readSettings(ctx, tx, " FOR UPDATE")
	if err != nil {
		return nil, fmt.Errorf("save settings: %w", err)
	}
	changes, err := fn(cur)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(changes))
	for name := range changes {
		if name == "" || len(name) > 191 || name == versionRow {
			return nil, bridge.Errorf(bridge.EINVALID, "setting name must have 1 to 191 characters")
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := s.sealIfSecret(name, changes[name])
		if err != nil {
			return nil, err
		}
		if err := s.putSetting(ctx, tx, name, v, now); err != nil {
			return nil, fmt.Errorf("save setting %s: %w", name, dbError(err))
		}
		cur.Values[name] = changes[name]
		delete(cur.Unreadable, name)
	}
	cur.Version++
	if err := s.putSetting(ctx, tx, versionRow, strconv.FormatInt(cur.Version, 10), now); err != nil {
		return nil, fmt.Errorf("save settings: %w", dbError(err))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("save settings: %w", dbError(err))
	}
	return cur, nil
}

func (s *Store) sealIfSecret(name, v string) (string, error) {
	if v == "" || !s.secret(name) {
		return v, nil
	}
	if s.sealer == nil {
		return "", &bridge.Error{Code: ErrNoSealer.Code, Message: ErrNoSealer.Message, Fields: map[string]string{name: "set secrets.key on the sidecar to store secrets from WordPress, or set this value in the sidecar's configuration"}}
	}
	return s.sealer.Seal(name, v)
}

func (s *Store) putSetting(ctx context.Context, tx *sql.Tx, name, value string, now any) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO "+s.settings+` (name, value, updated_at) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)`, name, value, now)
	return err
}

// ResealSettings encrypts again, with the current key, every secret setting
// stored in plain text or sealed under a previous key, and returns their
// names. Values do not change, so the save counter does not move. Without a
// sealer it does nothing.
func (s *Store) ResealSettings(ctx context.Context) ([]string, error) {
	if s.sealer == nil {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("reseal settings: %w", dbError(err))
	}
	defer rollback(tx)
	rows, err := tx.QueryContext(ctx, "SELECT name, value FROM "+s.settings+" FOR UPDATE")
	if err != nil {
		return nil, fmt.Errorf("reseal settings: %w", dbError(err))
	}
	stale := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reseal settings: %w", err)
		}
		switch {
		case name == versionRow || value == "" || !s.secret(name):
		case Sealed(value):
			if plain, current, err := s.sealer.Open(name, value); err == nil && !current {
				stale[name] = plain
			}
		default:
			stale[name] = value
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reseal settings: %w", dbError(err))
	}
	names := make([]string, 0, len(stale))
	for name := range stale {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := s.sealer.Seal(name, stale[name])
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+s.settings+" SET value = ? WHERE name = ?", v, name); err != nil {
			return nil, fmt.Errorf("reseal setting %s: %w", name, dbError(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("reseal settings: %w", dbError(err))
	}
	return names, nil
}
