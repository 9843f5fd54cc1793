package postgres

// ClaimQuery exposes claimQuery to the tests, which EXPLAIN it.
var ClaimQuery = claimQuery

// CursorMaxAge exposes cursorMaxAge to the tests.
const CursorMaxAge = cursorMaxAge
