// Package cdr is cdrgw's record model: call, queue and IVR records, call
// moments, source status, the Event envelope that carries them, dispositions
// and hangup causes.
//
// The JSON names of every type here are a public interface: JSON Schemas in
// schemas/, parameter-map expressions (record.caller.number), the admin API and
// the docs all use them. Struct fields carry both a json and an expr tag with
// the same name so expressions see exactly the JSON names.
//
// Times are UTC inside and RFC 3339 with offset in JSON; durations are whole
// seconds unless a name ends in _ms.
//
// The package imports only the standard library.
package cdr
