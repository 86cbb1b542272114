package mapping

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// UnappliedError reports elements of an updated Task that the gateway
// would not apply: the update is refused (422) rather than answered 200
// with the change dropped.
type UnappliedError struct {
	Issues []*InvalidError
}

// Error lists the elements.
func (e *UnappliedError) Error() string {
	var parts []string
	for _, is := range e.Issues {
		parts = append(parts, is.Expression+": "+is.Reason)
	}
	return "fhir: update not applied: " + strings.Join(parts, "; ")
}

// taskWritable are the Task elements an update may change; everything
// else must come back as it was read. meta and lastModified are the
// server's; id is checked against the URL by the caller.
var taskWritable = []string{"resourceType", "id", "meta", "lastModified", "status", "statusReason", "businessStatus",
	"note", "output", "executionPeriod"}

// noteKeys are the Task.note elements an update may set on a new note.
var noteKeys = []string{"id", "text", "authorReference"}

// UnappliedTaskChanges compares a Task sent with PUT (or produced by a
// PATCH) with the current Task as the gateway renders it, and returns an
// *UnappliedError naming every element that differs but that the gateway
// does not apply. An element left out counts as a change (PUT replaces the
// whole resource). It returns nil when everything the update asks is
// applied.
func UnappliedTaskChanges(current, submitted []byte) error {
	var cur, next map[string]json.RawMessage
	if err := json.Unmarshal(current, &cur); err != nil {
		return fmt.Errorf("mapping: current Task: %w", err)
	}
	if err := json.Unmarshal(submitted, &next); err != nil {
		return &MalformedError{Err: err}
	}
	var issues []*InvalidError
	refuse := func(expr, format string, args ...any) {
		issues = append(issues, &InvalidError{Expression: expr, Reason: fmt.Sprintf(format, args...)})
	}
	keys := map[string]bool{}
	for k := range cur {
		keys[k] = true
	}
	for k := range next {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		if slices.Contains(taskWritable, k) || sameJSON(cur[k], next[k]) {
			continue
		}
		name := strings.TrimPrefix(k, "_")
		switch {
		case strings.HasPrefix(k, "_"):
			refuse("Task."+name, "primitive extensions (_%s) are not stored on a Task; send the element without them", name)
		case next[k] == nil:
			refuse("Task."+k, "cannot be removed; PUT the Task as read, changing only status, statusReason, businessStatus, note, output or executionPeriod.end")
		default:
			refuse("Task."+k, "cannot be changed by an update; only status, statusReason, businessStatus, note, output and executionPeriod.end are applied")
		}
	}
	if m := next["meta"]; m != nil {
		var meta map[string]json.RawMessage
		var curMeta map[string]json.RawMessage
		_ = json.Unmarshal(cur["meta"], &curMeta)
		if json.Unmarshal(m, &meta) != nil {
			refuse("Task.meta", "must be an object")
		}
		for k, v := range meta {
			if k != "versionId" && k != "lastUpdated" && !sameJSON(curMeta[k], v) {
				refuse("Task.meta."+k, "cannot be changed by an update")
			}
		}
	}
	issues = append(issues, unappliedNotes(cur["note"], next["note"])...)
	issues = append(issues, unappliedOutputs(cur["output"], next["output"])...)
	if p := next["executionPeriod"]; p != nil && !sameJSON(cur["executionPeriod"], p) {
		var period map[string]json.RawMessage
		var curPeriod map[string]json.RawMessage
		_ = json.Unmarshal(cur["executionPeriod"], &curPeriod)
		_ = json.Unmarshal(p, &period)
		for k, v := range period {
			if k != "end" && !sameJSON(curPeriod[k], v) {
				refuse("Task.executionPeriod."+k, "only executionPeriod.end (when the consult note was written) is applied")
			}
		}
	}
	if len(issues) > 0 {
		return &UnappliedError{Issues: issues}
	}
	return nil
}

// unappliedNotes checks each submitted note: one the Task already has, the
// receiver's question, the referrer's answer, or a plain note (read as the
// question of a Task put on hold). Server-owned notes are ignored.
func unappliedNotes(cur, next json.RawMessage) []*InvalidError {
	var had, notes []json.RawMessage
	_ = json.Unmarshal(cur, &had)
	if next != nil && json.Unmarshal(next, &notes) != nil {
		return []*InvalidError{{Expression: "Task.note", Reason: "must be an array of Annotations"}}
	}
	var out []*InvalidError
	for i, n := range notes {
		if slices.ContainsFunc(had, func(h json.RawMessage) bool { return sameJSON(h, n) }) {
			continue
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(n, &fields) != nil {
			out = append(out, &InvalidError{Expression: fmt.Sprintf("Task.note[%d]", i), Reason: "must be an Annotation"})
			continue
		}
		var id string
		_ = json.Unmarshal(fields["id"], &id)
		switch id {
		case "", NoteQuestion, NoteAnswer:
		case NoteBlocked, NoteFailure:
			continue // the server's own notes: rewritten by the server
		default:
			out = append(out, &InvalidError{Expression: fmt.Sprintf("Task.note[%d].id", i),
				Reason: fmt.Sprintf("a new note is the question (id %q), the answer (id %q) or has no id", NoteQuestion, NoteAnswer)})
		}
		for k := range fields {
			if !slices.Contains(noteKeys, k) {
				out = append(out, &InvalidError{Expression: fmt.Sprintf("Task.note[%d].%s", i, k), Reason: "not stored; a note carries its text"})
			}
		}
	}
	return out
}

// unappliedOutputs checks each submitted output: one the Task already has,
// or the consult note.
func unappliedOutputs(cur, next json.RawMessage) []*InvalidError {
	var had, outputs []json.RawMessage
	_ = json.Unmarshal(cur, &had)
	if next != nil && json.Unmarshal(next, &outputs) != nil {
		return []*InvalidError{{Expression: "Task.output", Reason: "must be an array"}}
	}
	var out []*InvalidError
	for i, o := range outputs {
		if slices.ContainsFunc(had, func(h json.RawMessage) bool { return sameJSON(h, o) }) {
			continue
		}
		var p TaskParameter
		if json.Unmarshal(o, &p) != nil || !isConsultNote(p.Type) {
			out = append(out, &InvalidError{Expression: fmt.Sprintf("Task.output[%d].type", i), Reason: ConsultNoteHint})
		}
	}
	return out
}

// sameJSON compares two JSON values by meaning (key order and spacing do
// not matter); an absent value equals only an absent one.
func sameJSON(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
