package classify

// newStyleFlag marks a new-style revision code (bit 23); only those encode
// the board type.
const newStyleFlag = 1 << 23

// revisionTypes maps the type field of new-style revision codes, (rev>>4)&0xff,
// to model names (Raspberry Pi documentation, "Revision codes").
var revisionTypes = map[uint32]string{
	0x08: "rpi-3-b",
	0x0d: "rpi-3-b-plus",
	0x0e: "rpi-3-a-plus",
	0x11: "rpi-4-b",
	0x13: "rpi-400",
	0x14: "rpi-cm4",
	0x15: "rpi-cm4s",
	0x17: "rpi-5-b",
	0x18: "rpi-cm5",
	0x19: "rpi-500",
	0x1a: "rpi-cm5-lite",
}

// ModelFromRevision returns the model of a new-style revision code, or ""
// for old-style codes and types that cannot netboot or are not known.
func ModelFromRevision(rev uint32) string {
	if rev&newStyleFlag == 0 {
		return ""
	}
	return revisionTypes[(rev>>4)&0xff]
}
