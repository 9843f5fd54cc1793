package sqlite

// ClaimQuery exposes claimQuery to the tests, which EXPLAIN it.
var ClaimQuery = claimQuery

// CheckpointInterval exposes checkpointInterval to the tests.
const CheckpointInterval = checkpointInterval
