package peer

import "testing"

func TestKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"192.0.2.7:25", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:443", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:25", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"pipe", "pipe"},
		{"", ""},
	} {
		if got := Key(c.in); got != c.want {
			t.Errorf("Key(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if Key("[2001:db8:1:2::a]:1") != Key("2001:db8:1:2:ffff:ffff:ffff:ffff") {
		t.Error("two addresses of one /64 count apart")
	}
	if Key("2001:db8:1:2::a") == Key("2001:db8:1:3::a") {
		t.Error("two /64s count as one")
	}
}
