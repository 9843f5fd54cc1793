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
// else From; callee is To. direction comes from Options.LocalDomains
// (From, To and Request-URI hosts) and Options.LocalNetworks (the source of
// the caller's INVITE, the destination of its last hop); without either it
// is unknown.
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
// optional capture-id allow-list and password (chunk 14); NewSIPSource is a
// passive tap for mirrored plain SIP on UDP and TCP, parsed with sipgo's
// parser, answering nothing. A mirrored datagram's addresses are the
// mirror's (a tap, or Kamailio's siptrace without HEP), not the captured
// message's, so the SIP source gives the tracker none: it tells the legs
// apart by Via counts, and LocalNetworks cannot set the direction (use
// LocalDomains). CRLF keep-alives are skipped without being counted. Skipped packets are counted in
// cdrgw_sip_bad_packets_total{source,reason} and logged at most once a
// second. Live time-outs follow the capture clock: the latest capture time
// plus the wall time since it arrived.
package siptap
