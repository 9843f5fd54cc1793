package cdr

import "strings"

// Disposition is how a call ended, following Asterisk's CDR.
type Disposition string

// Dispositions. Master.csv's ANSWERED, NO ANSWER, BUSY, FAILED and CONGESTION
// map one to one; canceled is used where the caller gave up before an answer
// and the source says so (SIP CANCEL/487).
const (
	DispositionAnswered   Disposition = "answered"
	DispositionNoAnswer   Disposition = "no_answer"
	DispositionBusy       Disposition = "busy"
	DispositionFailed     Disposition = "failed"
	DispositionCongestion Disposition = "congestion"
	DispositionCanceled   Disposition = "canceled"
)

// Valid reports whether d is a defined disposition.
func (d Disposition) Valid() bool {
	switch d {
	case DispositionAnswered, DispositionNoAnswer, DispositionBusy, DispositionFailed, DispositionCongestion, DispositionCanceled:
		return true
	}
	return false
}

// ParseAsteriskDisposition maps an Asterisk CDR disposition (ANSWERED, NO
// ANSWER, BUSY, FAILED, CONGESTION) to a Disposition.
func ParseAsteriskDisposition(s string) (Disposition, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "ANSWERED":
		return DispositionAnswered, true
	case "NO ANSWER":
		return DispositionNoAnswer, true
	case "BUSY":
		return DispositionBusy, true
	case "FAILED":
		return DispositionFailed, true
	case "CONGESTION":
		return DispositionCongestion, true
	}
	return "", false
}

// causeText holds the Q.850 cause names Asterisk uses (causes.h, ast_cause2str).
var causeText = map[int]string{
	1: "Unallocated (unassigned) number", 2: "No route to specified transmit network", 3: "No route to destination",
	6: "Channel unacceptable", 7: "Call awarded and being delivered in an established channel",
	16: "Normal Clearing", 17: "User busy", 18: "No user responding", 19: "User alerting, no answer",
	21: "Call Rejected", 22: "Number changed", 23: "Redirected to new destination", 26: "Non-selected user clearing",
	27: "Destination out of order", 28: "Invalid number format", 29: "Facility rejected",
	30: "Response to STATus ENQuiry", 31: "Normal, unspecified", 34: "Circuit/channel congestion",
	38: "Network out of order", 41: "Temporary failure", 42: "Switching equipment congestion",
	43: "Access information discarded", 44: "Requested channel not available", 50: "Requested facility not subscribed",
	52: "Outgoing call barred", 54: "Incoming call barred", 57: "Bearer capability not authorized",
	58: "Bearer capability not presently available", 65: "Bearer capability not implemented",
	66: "Channel type not implemented", 69: "Requested facility not implemented",
	81: "Invalid call reference value", 88: "Incompatible destination", 95: "Invalid message unspecified",
	96: "Mandatory information element is missing", 97: "Message type nonexist.",
	98: "Wrong message", 99: "Info. element nonexist or not implemented", 100: "Invalid information element contents",
	101: "Message not compatible with call state", 102: "Recover on timer expiry",
	103: "Mandatory IE length error", 111: "Protocol error, unspecified", 127: "Interworking, unspecified",
}

// CauseText returns the name of Q.850 cause code, or "" when unknown.
func CauseText(code int) string { return causeText[code] }
