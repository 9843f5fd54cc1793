package sqlite

import "database/sql"

// Traced returns a Store on the database of s whose reads go through db;
// the tests EXPLAIN what the console's methods run.
func Traced(s *Store, db *sql.DB) *Store {
	return &Store{w: s.w, r: db, now: s.now, group: s.group}
}
