// Package bench holds cdrgw's end-to-end benchmarks (run by make bench):
//
//   - BenchmarkDelivery: durable deliveries per second from accepted events
//     to a 2xx at a loopback receiver, through the real store (SQLite file,
//     PostgreSQL) and the real delivery engine, beside a plain net/http
//     client posting the same bodies to the same receiver in the same run;
//     it reports deliveries/s, plain/s and their ratio.
//   - BenchmarkLatency500: accepted-to-delivered latency (receiver timestamp
//     minus the time Accept returned) at a steady 500 events/s; it reports
//     p50_ms and p99_ms.
//   - BenchmarkIngestTeams: POST /ingest/teams through the API handler, the
//     Teams handler and the engine's Accept, from concurrent clients, as
//     single records and as 50-record batches; it reports records/s.
//   - BenchmarkARILatency: live ARI latency, from arisim writing a frame to
//     the engine's Accept returning (committed), at -bench.ari.rate events/s
//     (default 1000) for -bench.ari.for, beside the same events accepted
//     directly in the same run; it reports p50_ms, p99_ms, direct_p50_ms,
//     direct_p99_ms, p99_ratio, to_sink_p99_ms, the rate reached and CPU µs
//     per ARI frame.
//   - BenchmarkSIPLatency: live HEP packets-to-stored latency at 2,000
//     messages/s (the recorded Kamailio stream over UDP to a live HEP source,
//     the engine on SQLite or PostgreSQL) beside the same number of events
//     accepted directly in the same run; it reports p50_ms, p99_ms,
//     base_p99_ms, p99_ratio, base_commit_p99_ms and events/accept.
//
// PostgreSQL benchmarks use store/postgres/pgtest and are skipped when the
// server cannot be reached. The package has no non-test code.
package bench
