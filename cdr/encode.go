package cdr

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/cdrgw/cdrgw/internal/jsonscan"
)

// MarshalJSON encodes the event: the bytes encoding/json writes for it by
// reflection (struct fields in order, map keys sorted, HTML-safe strings),
// written directly. A record type cdr does not define goes through
// encoding/json.
func (e Event) MarshalJSON() ([]byte, error) {
	return AppendEventJSON(make([]byte, 0, 1024), &e)
}

// AppendEventJSON appends the JSON of e (as MarshalJSON) to dst.
func AppendEventJSON(dst []byte, e *Event) ([]byte, error) {
	var err error
	b := append(dst, `{"id":`...)
	b = jsonscan.AppendString(b, e.ID)
	b = append(b, `,"type":`...)
	b = jsonscan.AppendString(b, string(e.Type))
	b = append(b, `,"time":`...)
	if b, err = appendTime(b, e.Time); err != nil {
		return nil, err
	}
	b = append(b, `,"source":`...)
	b = appendSourceRef(b, e.Source)
	b = append(b, `,"record":`...)
	if b, err = appendRecord(b, e.Record); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func appendRecord(b []byte, r Record) ([]byte, error) {
	var err error
	switch r := r.(type) {
	case nil:
		return append(b, "null"...), nil
	case *Call:
		if r == nil {
			return append(b, "null"...), nil
		}
		if b, err = appendBase(b, &r.Base); err != nil {
			return nil, err
		}
		b = append(b, `,"callee":`...)
		b = appendParty(b, &r.Callee)
		b = append(b, `,"answered_at":`...)
		if b, err = appendTimePtr(b, r.AnsweredAt); err != nil {
			return nil, err
		}
		b = appendIntField(b, `,"duration":`, r.Duration)
		b = appendIntField(b, `,"billsec":`, r.Billsec)
		b = appendStringField(b, `,"disposition":`, string(r.Disposition))
		b = appendIntField(b, `,"hangup":{"cause":`, r.Hangup.Cause)
		b = appendStringField(b, `,"cause_text":`, r.Hangup.CauseText)
		b = appendIntField(b, `,"sip_code":`, r.Hangup.SIPCode)
		b = appendStringField(b, `,"initiator":`, string(r.Hangup.Initiator))
		b = appendStringField(b, `},"account_code":`, r.AccountCode)
		b = appendStringField(b, `,"user_field":`, r.UserField)
		b = append(b, `,"legs":`...)
		if r.Legs == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i := range r.Legs {
				l := &r.Legs[i]
				if i > 0 {
					b = append(b, ',')
				}
				b = appendStringField(b, `{"channel":`, l.Channel)
				b = appendStringField(b, `,"unique_id":`, l.UniqueID)
				b = append(b, `,"started_at":`...)
				if b, err = appendTime(b, l.StartedAt); err != nil {
					return nil, err
				}
				b = append(b, `,"answered_at":`...)
				if b, err = appendTimePtr(b, l.AnsweredAt); err != nil {
					return nil, err
				}
				b = append(b, `,"ended_at":`...)
				if b, err = appendTimePtr(b, l.EndedAt); err != nil {
					return nil, err
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		return append(b, '}'), nil
	case *Queue:
		if r == nil {
			return append(b, "null"...), nil
		}
		if b, err = appendBase(b, &r.Base); err != nil {
			return nil, err
		}
		b = appendStringField(b, `,"scenario_id":`, r.ScenarioID)
		b = append(b, `,"queue":`...)
		b = appendNamed(b, r.Queue)
		b = appendStringField(b, `,"agent":{"name":`, r.Agent.Name)
		b = appendStringField(b, `,"id":`, r.Agent.ID)
		b = appendStringField(b, `,"user_id":`, r.Agent.UserID)
		b = appendStringField(b, `,"upn":`, r.Agent.UPN)
		b = appendIntField(b, `},"call_length":`, r.CallLength)
		b = appendIntField(b, `,"wait":`, r.Wait)
		b = appendIntField(b, `,"talk":`, r.Talk)
		b = append(b, `,"met_service_level":`...)
		if r.MetServiceLevel == nil {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendBool(b, *r.MetServiceLevel)
		}
		b = appendStringField(b, `,"leave_reason":`, r.LeaveReason)
		b = appendStringField(b, `,"from":`, r.From)
		b = appendStringField(b, `,"parent_id":`, r.ParentID)
		b = appendStringField(b, `,"ou_path":`, r.OUPath)
		b = appendStringField(b, `,"callback_request_id":`, r.CallbackRequestID)
		b = append(b, `,"transfer":`...)
		b = appendTransfer(b, r.Transfer)
		b = appendStringField(b, `,"resource_account_object_id":`, r.ResourceAccountObjectID)
		return append(b, '}'), nil
	case *IVR:
		if r == nil {
			return append(b, "null"...), nil
		}
		if b, err = appendBase(b, &r.Base); err != nil {
			return nil, err
		}
		b = appendStringField(b, `,"scenario_id":`, r.ScenarioID)
		b = append(b, `,"ivr":`...)
		b = appendNamed(b, r.IVR)
		b = appendIntField(b, `,"call_length":`, r.CallLength)
		b = appendStringField(b, `,"from":`, r.From)
		b = appendStringField(b, `,"parent_id":`, r.ParentID)
		b = appendStringField(b, `,"ou_path":`, r.OUPath)
		b = append(b, `,"transfer":`...)
		b = appendTransfer(b, r.Transfer)
		b = append(b, `,"inputs":`...)
		if r.Inputs == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i := range r.Inputs {
				in := &r.Inputs[i]
				if i > 0 {
					b = append(b, ',')
				}
				b = appendStringField(b, `{"id":`, in.ID)
				b = append(b, `,"at":`...)
				if b, err = appendTimePtr(b, in.At); err != nil {
					return nil, err
				}
				b = appendStringField(b, `,"block":`, in.Block)
				b = appendStringField(b, `,"block_type":`, in.BlockType)
				b = appendStringField(b, `,"parameter":`, in.Parameter)
				b = appendStringField(b, `,"value":`, in.Value)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, `,"data_values":`...)
		if r.DataValues == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, v := range r.DataValues {
				if i > 0 {
					b = append(b, ',')
				}
				b = jsonscan.AppendString(b, v)
			}
			b = append(b, ']')
		}
		b = appendStringField(b, `,"resource_account_object_id":`, r.ResourceAccountObjectID)
		return append(b, '}'), nil
	case *SourceStatus:
		if r == nil {
			return append(b, "null"...), nil
		}
		b = appendStringField(b, `{"id":`, r.ID)
		b = appendStringField(b, `,"kind":`, string(r.Kind))
		b = append(b, `,"source":`...)
		b = appendSourceRef(b, r.Source)
		b = appendStringField(b, `,"status":`, r.Status)
		b = append(b, `,"at":`...)
		if b, err = appendTime(b, r.At); err != nil {
			return nil, err
		}
		b = appendStringField(b, `,"error":`, r.Error)
		return append(b, '}'), nil
	case *WebhookStatus:
		if r == nil {
			return append(b, "null"...), nil
		}
		b = appendStringField(b, `{"id":`, r.ID)
		b = appendStringField(b, `,"kind":`, string(r.Kind))
		b = appendStringField(b, `,"webhook":`, r.Webhook)
		b = append(b, `,"at":`...)
		if b, err = appendTime(b, r.At); err != nil {
			return nil, err
		}
		b = appendIntField(b, `,"consecutive_failures":`, r.ConsecutiveFailures)
		b = appendIntField(b, `,"last_status":`, r.LastStatus)
		b = appendStringField(b, `,"last_error":`, r.LastError)
		b = append(b, `,"paused":`...)
		b = strconv.AppendBool(b, r.Paused)
		return append(b, '}'), nil
	}
	v, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, v...), nil
}

// appendBase opens the record object with Base's fields.
func appendBase(b []byte, r *Base) ([]byte, error) {
	var err error
	b = appendStringField(b, `{"id":`, r.ID)
	b = appendStringField(b, `,"kind":`, string(r.Kind))
	b = append(b, `,"source":`...)
	b = appendSourceRef(b, r.Source)
	b = appendStringField(b, `,"call_id":`, r.CallID)
	b = appendStringField(b, `,"direction":`, string(r.Direction))
	b = append(b, `,"caller":`...)
	b = appendParty(b, &r.Caller)
	b = append(b, `,"started_at":`...)
	if b, err = appendTime(b, r.StartedAt); err != nil {
		return nil, err
	}
	b = append(b, `,"ended_at":`...)
	if b, err = appendTimePtr(b, r.EndedAt); err != nil {
		return nil, err
	}
	b = append(b, `,"custom":`...)
	if r.Custom == nil {
		return append(b, "null"...), nil
	}
	var buf [16]string
	keys := buf[:0]
	for k := range r.Custom {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, k)
		b = append(b, ':')
		b = jsonscan.AppendString(b, r.Custom[k])
	}
	return append(b, '}'), nil
}

func appendSourceRef(b []byte, s SourceRef) []byte {
	b = appendStringField(b, `{"kind":`, s.Kind)
	b = appendStringField(b, `,"name":`, s.Name)
	return append(b, '}')
}

func appendParty(b []byte, p *Party) []byte {
	b = appendStringField(b, `{"number":`, p.Number)
	b = appendStringField(b, `,"name":`, p.Name)
	b = appendStringField(b, `,"user_id":`, p.UserID)
	b = appendStringField(b, `,"upn":`, p.UPN)
	return append(b, '}')
}

func appendNamed(b []byte, n Named) []byte {
	b = appendStringField(b, `{"id":`, n.ID)
	b = appendStringField(b, `,"name":`, n.Name)
	return append(b, '}')
}

func appendTransfer(b []byte, t Transfer) []byte {
	b = appendStringField(b, `{"type":`, t.Type)
	b = appendStringField(b, `,"to_id":`, t.ToID)
	b = appendStringField(b, `,"to_name":`, t.ToName)
	return append(b, '}')
}

func appendStringField(b []byte, prefix, s string) []byte {
	return jsonscan.AppendString(append(b, prefix...), s)
}

func appendIntField(b []byte, prefix string, n int) []byte {
	return strconv.AppendInt(append(b, prefix...), int64(n), 10)
}

// appendTime appends t as time.Time.MarshalJSON does (AppendText has the
// same format and refuses the same times).
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b, err := t.AppendText(append(b, '"'))
	if err != nil {
		return nil, err
	}
	return append(b, '"'), nil
}

func appendTimePtr(b []byte, t *time.Time) ([]byte, error) {
	if t == nil {
		return append(b, "null"...), nil
	}
	return appendTime(b, *t)
}
