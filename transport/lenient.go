package transport

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// Lenient decodes any JSON value into text, for the fields of a service's
// messages whose JSON type is not to be relied on: a string as itself, a
// number or boolean as written, null as "", an object or array as its JSON
// text. A message with a field of an unexpected type is then still read,
// instead of failing whole.
type Lenient string

// UnmarshalJSON implements [json.Unmarshaler].
func (l *Lenient) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = Lenient(s)
	case bytes.Equal(b, []byte("null")):
		*l = ""
	default:
		*l = Lenient(b)
	}
	return nil
}

// Float returns the value as a finite number, or 0 when it is none.
func (l Lenient) Float() float64 {
	v, err := strconv.ParseFloat(string(l), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Int returns the value as a number, truncated, or 0 when it is none.
func (l Lenient) Int() int { return int(l.Float()) }
