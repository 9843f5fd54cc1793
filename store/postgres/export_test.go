package postgres

// ClaimQuery exposes claimQuery to the tests, which EXPLAIN it.
var ClaimQuery = claimQuery
