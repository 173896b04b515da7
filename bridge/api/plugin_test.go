package api

import (
	"testing"
	"time"
)

func TestSeenIDs(t *testing.T) {
	m := newSeenIDs()
	now := time.Unix(1766300000, 0)
	if m.seen("a", now.Add(time.Minute), now) {
		t.Fatal("a new id seen")
	}
	if !m.seen("a", now.Add(time.Minute), now.Add(30*time.Second)) {
		t.Fatal("a replay within the window not seen")
	}
	// Expired ids are forgotten (their signature is refused anyway).
	if m.seen("a", now.Add(3*time.Minute), now.Add(2*time.Minute)) {
		t.Fatal("an expired id still remembered")
	}
	m.seen("b", now.Add(time.Second), now)
	m.seen("c", now.Add(time.Hour), now.Add(5*time.Minute))
	if _, ok := m.ids["b"]; ok {
		t.Error("the expired id b was not pruned")
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64", // one host's /64 is one client
		"not an address":       "not an address",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
