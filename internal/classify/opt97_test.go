package classify

import (
	"net"
	"testing"
)

func TestDecodeOpt97(t *testing.T) {
	mac, _ := net.ParseMAC(pi4MAC)
	cases := []struct {
		name string
		in   []byte
		want GUID
	}{
		{"Pi 4 layout", guid("RPi4", 0xc03111, pi4MAC, 0x01020304), GUID{Family: "RPi4", Revision: 0xc03111, Serial: "01020304"}},
		{"Pi 5 layout, old-style revision dropped", guid("RPi5", 0x0010, pi4MAC, 0xa), GUID{Family: "RPi5", Serial: "0000000a"}},
		{"magic but foreign MAC still trusted", guid("RPi4", 0xc03111, "00:00:00:00:00:00", 7), GUID{Family: "RPi4", Revision: 0xc03111, Serial: "00000007"}},
		{"serial repeated (Pi 3, old EEPROM)", repeated(0xcafe0001), GUID{Serial: "cafe0001"}},
		{"all zeros", make([]byte, 17), GUID{Ignored: "option 97 GUID is all zeros"}},
		{"unknown layout", append([]byte{0}, "0123456789abcdef"...), GUID{Ignored: "option 97 GUID has neither a Raspberry Pi magic, the client's MAC, nor a repeated serial"}},
		{"type 1", append([]byte{1}, guid("RPi4", 0, pi4MAC, 1)[1:]...), GUID{Ignored: "option 97 type 1, want 0 (GUID)"}},
		{"empty", nil, GUID{Ignored: "option 97 is 0 bytes, want 17 (type 0 + 16-byte GUID)"}},
		{"too long", make([]byte, 18), GUID{Ignored: "option 97 is 18 bytes, want 17 (type 0 + 16-byte GUID)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := DecodeOpt97(tc.in, mac); got != tc.want {
				t.Errorf("\ngot  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
