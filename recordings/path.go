package recordings

import (
	"path/filepath"
	"strings"
	"time"
)

// Path is where the recording of a ticket lives:
// <root>/YYYY/MM/DD/<ticketID>.wav, with the date of t in the local time
// zone. Characters of ticketID outside [A-Za-z0-9._-] become '_' (and a
// leading '.' too), so an ID can never climb out of the directory.
func Path(root string, ticketID string, t time.Time) string {
	lt := t.Local()
	return filepath.Join(root, lt.Format("2006"), lt.Format("01"), lt.Format("02"), safeName(ticketID)+".wav")
}

func safeName(id string) string {
	var b strings.Builder
	for i, r := range id {
		ok := r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r == '.' && i > 0)
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}
