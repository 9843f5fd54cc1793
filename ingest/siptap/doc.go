// Package siptap turns SIP signalling into call records: HEPv3/HEPv2
// decoding, a passive mirrored-SIP tap, offline readers for raw HEP streams
// and pcap/pcapng captures, and a pure dialog tracker. It is named siptap so
// it does not clash with sipgo's sip package, whose parser it uses.
//
// # Dialog tracker
//
// Tracker.Handle is a pure state machine keyed by Call-ID; time comes from
// the capture timestamps and from Flush's argument, never from the clock.
// The first INVITE without a To-tag starts a call (call.started); the first
// 2xx to that INVITE answers it (call.answered); a BYE ends it
// (call.ended, initiator caller when the BYE carries the INVITE's From-tag,
// else callee). Unanswered calls end at the final response: 487 after a
// CANCEL is canceled (initiator caller), 486/600/603 busy, 408/480/487
// no_answer, other 3xx–6xx failed (initiator callee). hangup.sip_code is the
// final code, hangup.cause the Q.850 cause of a Reason header on the BYE,
// CANCEL or final response. Retransmissions, provisional responses and
// re-INVITEs change no time. caller is the P-Asserted-Identity when present,
// else From; callee is To.
//
// # Direction
//
// direction is outbound when the caller is local, inbound when the callee
// is, internal when both are, else unknown (also when neither
// Options.LocalDomains nor Options.LocalNetworks is set). The caller is
// local when the From host is a local domain or the caller's address is in
// a local network; the callee when the Request-URI host of the INVITE's
// last hop or the To host is a local domain, or the callee's address is in
// a local network. The addresses are the transport's when known (HEP,
// pcap): the source of the caller's INVITE and the destination of its last
// hop. A mirrored SIP tap has no meaningful transport addresses (they are
// the mirror's), so the addresses are read from the messages
// (Message.Origin): the caller's is the bottom Via of its INVITE (its
// received= parameter, else its sent-by host), else the INVITE's Contact
// host, else the connection address (c=) of its SDP offer; the callee's is
// the Request-URI host of the INVITE's last hop, else the Contact host of
// the first 1xx/2xx with a To-tag, else that response's SDP connection
// address. Only IP literals count (names and 0.0.0.0 do not). call.started
// carries what is known at the INVITE; later events may know the callee.
//
// # Both legs of a proxy
//
// A proxy's HEP agent (Kamailio's siptrace) and a capture of both sides show
// every message twice, once per leg, with the same Call-ID: one call gives
// one record. The caller's leg is found by address: the source of the
// INVITE with the fewest Via headers is the caller. Answer, final response
// and BYE times are those on the caller's leg, and where the legs disagree
// on the final code (a proxy turning a 503 into a 500) the record carries
// the code the caller saw. A message seen only on the other leg is used
// after Linger (32 s of capture time) or when the dialog otherwise settles.
// Via counts are not used for responses: real agents answer with fewer Vias
// than they received.
//
// # Time-outs and bounds
//
// Flush(now) ends answered calls whose Session-Expires lapsed (ended_at =
// last refresh + interval) and calls older than MaxCallDuration (default
// 4 h; ended_at = the last message seen), with initiator system and
// custom.incomplete = "true", custom.incomplete_reason = session_expired or
// max_call_duration. At most MaxDialogs (default 200,000) calls are held;
// starting one more ends the oldest the same way (incomplete_reason
// max_dialogs, counted in Stats.Evicted). Ended Call-IDs are remembered for
// Linger so late copies start nothing. Offline readers end calls still open
// at the end of the input with incomplete_reason end_of_input (Drain).
//
// # Inputs
//
// ReadHEP reads HEPv3 packets back to back (hep3.bin, HEP over TCP).
// ReadPcap reads pcap and pcapng (github.com/gopacket/gopacket/pcapgo, pure
// Go, the maintained fork of google/gopacket) with SIP over UDP or HEP over
// UDP; when a capture holds both (a lab capture of the proxy and of its HEP
// feed), plain SIP wins: HEP datagrams are read only until the first plain
// SIP datagram, since plain copies carry the wire's own timestamps. Both
// give the same records (checked against the lab's ground truth). IP
// fragments and SIP over TCP in captures are skipped.
//
// NewHEPSource listens for HEP on UDP (v3 and v2) and TCP (v3) with an
// optional capture-id allow-list and password (chunk 14).
//
// NewSIPSource is a passive tap for mirrored plain SIP on UDP and TCP, built
// on sipgo's transport layer (sip.TransportLayer): sipgo's UDP and TCP
// transports read, frame (TCP, by Content-Length) and parse with sipgo's
// parser, and the layer's message handler passes every message, request or
// response, to the tracker. No transaction layer, UA or server is created,
// so nothing is answered and responses are neither routed to nor dropped
// for lack of client transactions; the sockets given to sipgo discard
// writes (its TCP transport would answer an RFC 5626 double-CRLF ping with
// a CRLF pong). sipgo reports an unparsable message only by logging it; the
// tap counts those records as sip_parse, and a TCP stream that fails to
// parse is closed, having lost its framing. UDP datagrams longer than
// sipgo's read buffer (sip.TransportBufferReadSize, 32 KiB) do not parse.
// sipgo keeps one pool entry per remote address it has read from, which
// stays small for a tap fed by a few mirrors. A mirrored message's
// transport addresses are the mirror's (a tap, or Kamailio's siptrace
// without HEP), so the tap gives the tracker none: it tells the legs apart
// by Via counts and reads the endpoints' addresses from the messages (see
// Direction). CRLF keep-alives are skipped without being counted.
//
// Live sources hand events to their sink through a queue (4,096 events),
// so the packet readers never wait for the store; events that wait while
// the sink commits go to it together, in order, in the next Accept (a
// refused batch is retried event by event). When a source stops, the
// events already made are still handed over for up to 5 s. Skipped packets
// are counted in cdrgw_sip_bad_packets_total{source,reason} and logged at
// most once a second. Live time-outs follow the capture
// clock: the latest capture time plus the wall time since it arrived. Live
// sources report to SourceConfig.Status: Connected once both listeners are
// bound, Disconnected with the error when binding fails or a listener
// stops by itself, and Disconnected(nil) when stopped.
package siptap
