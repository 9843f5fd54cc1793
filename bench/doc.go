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
//
// PostgreSQL benchmarks use store/postgres/pgtest and are skipped when the
// server cannot be reached. The package has no non-test code.
package bench
