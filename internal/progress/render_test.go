package progress

import (
	"strings"
	"testing"
	"time"
)

const (
	callLen = 2*time.Minute + 57*time.Second
	callPos = 83*time.Second + 900*time.Millisecond // 47%, 1:23
)

func TestLine(t *testing.T) {
	tests := []struct {
		name        string
		cols        int
		input       string
		total, pos  time.Duration
		transcripts int64
		want        string
	}{
		{"known", 80, "call-01.wav", callLen, callPos, 3,
			"call-01.wav  [=========>          ]  47%  1:23 / 2:57  1:34 left  3 transcripts"},
		{"known wide", 200, "call-01.wav", callLen, callPos, 3,
			"call-01.wav  [=========>          ]  47%  1:23 / 2:57  1:34 left  3 transcripts"},
		{"bar shrinks", 75, "call-01.wav", callLen, callPos, 3,
			"call-01.wav  [=======>       ]  47%  1:23 / 2:57  1:34 left  3 transcripts"},
		{"one transcript", 80, "call-01.wav", callLen, callPos, 1,
			"call-01.wav  [=========>          ]  47%  1:23 / 2:57  1:34 left  1 transcript"},
		{"no transcripts", 70, "call-01.wav", callLen, callPos, 0,
			"call-01.wav  [====>     ]  47%  1:23 / 2:57  1:34 left  0 transcripts"},
		{"bar or transcripts", 66, "call-01.wav", callLen, callPos, 0,
			"call-01.wav  [=========>          ]  47%  1:23 / 2:57  1:34 left"},
		{"start", 80, "call-01.wav", callLen, 0, 0,
			"call-01.wav  [>                   ]   0%  0:00 / 2:57  2:57 left  0 transcripts"},
		{"end", 80, "call-01.wav", callLen, callLen, 9,
			"call-01.wav  [====================] 100%  2:57 / 2:57  0:00 left  9 transcripts"},
		{"past the end", 80, "call-01.wav", callLen, callLen + 500*time.Millisecond, 9,
			"call-01.wav  [====================] 100%  2:57 / 2:57  0:00 left  9 transcripts"},
		{"almost the end", 80, "call-01.wav", callLen, callLen - time.Millisecond, 9,
			"call-01.wav  [===================>]  99%  2:56 / 2:57  0:01 left  9 transcripts"},
		{"hours", 80, "long.wav", 2*time.Hour + 5*time.Second, time.Hour + 30*time.Second, 120,
			"long.wav  [======>     ]  50%  1:00:30 / 2:00:05    59:35 left  120 transcripts"},
		{"40 columns", 40, "call-01.wav", callLen, callPos, 3,
			"call-01.wav  [===>    ]  47%  1:34 left"},
		{"20 columns", 20, "call-01.wav", callLen, callPos, 3,
			"call-01.wav  47%"},
		{"long name", 80, "interview-with-the-district-collector-2024-03-17.wav", callLen, callPos, 3,
			"…-collector-2024-03-17.wav  [=========>          ]  47%  1:23 / 2:57  1:34 left"},
		{"long name, 40 columns", 40, "interview-with-the-district-collector-2024-03-17.wav", callLen, callPos, 3,
			"…24-03-17.wav  47%  1:34 left"},
		{"long name, 20 columns", 20, "interview-with-the-district-collector-2024-03-17.wav", callLen, callPos, 3,
			"…4-03-17.wav  47%"},
		{"unknown", 80, "stdin", 0, 2*time.Minute + 3*time.Second, 12,
			"stdin  2:03 sent  12 transcripts"},
		{"unknown, 20 columns", 20, "stdin", 0, 2*time.Minute + 3*time.Second, 12,
			"stdin  2:03 sent"},
		{"unknown, long name, 20 columns", 20, "call-01.wav", 0, 2*time.Minute + 3*time.Second, 12,
			"…-01.wav  2:03 sent"},
		{"unknown, 12 columns", 12, "call-01.wav", 0, 2*time.Minute + 3*time.Second, 12,
			"…wav  2:03…"},
		{"known, 10 columns", 10, "call-01.wav", callLen, callPos, 3,
			"…wav  47%"},
		{"known, 5 columns", 5, "call-01.wav", callLen, callPos, 3,
			"…wa…"},
		{"escape sequence in the name", 80, "a\033[2Jb\n.wav", 0, time.Second, 0,
			"a?[2Jb?.wav  0:01 sent  0 transcripts"},
		{"bidirectional override, line separator", 80, "a\u202eb\u2028c\u200dd", 0, time.Second, 0,
			"a?b?c\u200dd  0:01 sent  0 transcripts"},
		{"not UTF-8", 80, "a\xffb", 0, time.Second, 0,
			"a?b  0:01 sent  0 transcripts"},
		{"wide characters", 80, "会议记录第一部分.wav", 0, time.Second, 0,
			"会议记录第一部分.wav  0:01 sent  0 transcripts"},
		{"wide characters, 40 columns", 40, "会议记录第一部分.wav", 0, time.Second, 0,
			"…第一部分.wav  0:01 sent  0 transcripts"},
		{"wide characters cut", 30, "会议记录第一部分第二部分.wav", 0, time.Second, 0,
			"…二部分.wav   0:01 sent"}, // the name padded to its column
		{"combining marks", 80, "बैठक.wav", 0, time.Second, 0,
			"बैठक.wav  0:01 sent  0 transcripts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, s, _ := newTest(tt.cols, nil)
			d.Add(tt.input, tt.total).Update(tt.pos, tt.transcripts)
			d.Redraw()
			check(t, s, tt.want+"\n")
		})
	}
}

// TestShape: the times of a line are as wide as the total, so that its
// fields do not move, nor its bar change width, as they count.
func TestShape(t *testing.T) {
	d, s, _ := newTest(80, nil)
	it := d.Add("call-01.wav", 12*time.Minute)
	for _, tt := range []struct {
		pos  time.Duration
		want string
	}{
		{0, "call-01.wav  [>                ]   0%   0:00 / 12:00  12:00 left  5 transcripts"},
		{119 * time.Second, "call-01.wav  [==>              ]  16%   1:59 / 12:00  10:01 left  5 transcripts"},
		{121 * time.Second, "call-01.wav  [==>              ]  16%   2:01 / 12:00   9:59 left  5 transcripts"},
		{601 * time.Second, "call-01.wav  [==============>  ]  83%  10:01 / 12:00   1:59 left  5 transcripts"},
	} {
		it.Update(tt.pos, 5)
		d.Redraw()
		check(t, s, tt.want+"\n")
	}
	d.Close()
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0:00"},
		{0, "0:00"},
		{999 * time.Millisecond, "0:00"},
		{time.Second, "0:01"},
		{59*time.Second + 999*time.Millisecond, "0:59"},
		{time.Minute, "1:00"},
		{10*time.Minute + 5*time.Second, "10:05"},
		{time.Hour - time.Nanosecond, "59:59"},
		{time.Hour, "1:00:00"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1:02:03"},
		{100 * time.Hour, "100:00:00"},
	}
	for _, tt := range tests {
		if got := string(appendDuration(nil, tt.d)); got != tt.want {
			t.Errorf("appendDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestWidths draws every kind of line at every width from 1 to 100 column:
// nothing goes past the last column but one, and the screen holds just the
// display's lines.
func TestWidths(t *testing.T) {
	names := []string{"", "a", "stdin", "call-01.wav", "会议记录第一部分.wav", "बैठक-रिकॉर्डिंग.wav",
		"interview-with-the-district-collector-2024-03-17.wav"}
	for cols := 1; cols <= 100; cols++ {
		d, s, c := newTest(cols, nil)
		d.SetTotal(len(names) + 1)
		var items []*Item
		for i, name := range names {
			total := time.Duration(0)
			if i%2 == 0 {
				total = time.Duration(i+1) * 17 * time.Minute
			}
			items = append(items, d.Add(name, total))
		}
		for i, it := range items {
			c.advance(time.Second)
			it.Update(time.Duration(i)*5*time.Minute+7*time.Second, int64(i*7))
		}
		d.Redraw()
		for _, e := range s.errs {
			t.Fatalf("%d columns: %s", cols, e)
		}
		lines := strings.Split(strings.TrimSuffix(s.String(), "\n"), "\n")
		if len(lines) != len(names)+1 && cols > 1 {
			t.Errorf("%d columns: %d lines, want %d:\n%s", cols, len(lines), len(names)+1, s)
		}
		for _, l := range lines {
			if w := width([]byte(l)); w >= cols && cols > 1 {
				t.Errorf("%d columns: line %q is %d wide", cols, l, w)
			}
		}
		items[0].Done(nil)
		d.Close()
		if s.String() != "" || len(s.errs) > 0 {
			t.Errorf("%d columns: after Close: %q, %v", cols, s, s.errs)
		}
	}
}

func TestDurationWidth(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 0, 9 * time.Minute, 10 * time.Minute, time.Hour - 1,
		time.Hour, 10 * time.Hour, 100*time.Hour + 59*time.Minute} {
		if got, want := durationWidth(d), len(appendDuration(nil, d)); got != want {
			t.Errorf("durationWidth(%v) = %d, want %d", d, got, want)
		}
	}
}

// FuzzLine draws a stream of any name, length and position at any width:
// the screen stays clean, no line reaches the last column, and Close
// leaves nothing.
func FuzzLine(f *testing.F) {
	f.Add("call-01.wav", 80, int64(callLen), int64(callPos), int64(3), false)
	f.Add("stdin", 20, int64(0), int64(time.Hour), int64(12), false)
	f.Add("会议记录\u0301\x1b[2J", 7, int64(1), int64(-5), int64(-1), true)
	f.Add("x", 2, int64(1<<62), int64(1<<62-1), int64(1<<62), true)
	f.Fuzz(func(t *testing.T, name string, cols int, total, pos, transcripts int64, unpaced bool) {
		if cols < 2 || cols > 500 {
			t.Skip()
		}
		d, s, c := newTest(cols, &Options{Unpaced: unpaced})
		d.SetTotal(2)
		it := d.Add(name, time.Duration(total))
		d.Add(name+name, 0).Update(time.Duration(pos), transcripts)
		it.Update(0, 0)
		c.advance(2 * time.Second)
		it.Update(time.Duration(pos), transcripts)
		d.Redraw()
		for _, e := range s.errs {
			t.Fatal(e)
		}
		got := strings.TrimSuffix(s.String(), "\n")
		for _, l := range strings.Split(got, "\n") {
			if w := width([]byte(l)); w >= cols {
				t.Fatalf("line %q is %d columns wide, on a screen of %d", l, w, cols)
			}
		}
		if n := strings.Count(got, "\n") + 1; n > 3 {
			t.Fatalf("%d lines, want 3 at most:\n%s", n, got)
		}
		d.Close()
		if s.String() != "" || len(s.errs) > 0 {
			t.Fatalf("after Close: %q, %v", s, s.errs)
		}
	})
}
