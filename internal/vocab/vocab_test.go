package vocab

import "testing"

// Every list: values unique and non-empty, every value labelled.
func TestListsAreClosedAndLabelled(t *testing.T) {
	for kind, l := range Labels() {
		if len(l) == 0 {
			t.Errorf("%s: empty", kind)
		}
		seen := map[string]bool{}
		for _, w := range l {
			if w.Value == "" || w.Label == "" || w.Label == w.Value {
				t.Errorf("%s: %+v", kind, w)
			}
			if seen[w.Value] {
				t.Errorf("%s: %q twice", kind, w.Value)
			}
			seen[w.Value] = true
		}
	}
}

func TestListLookups(t *testing.T) {
	if !Outcomes.Has(OutcomeVoicemail) || Outcomes.Has("voice_mail") {
		t.Error("Has")
	}
	if Categories.Label(CategoryLegalAid) != "法律援助" || Categories.Label("x") != "x" {
		t.Error("Label")
	}
	if v := Stages.Values(); len(v) != 3 || v[0] != StageIVR {
		t.Errorf("Values %v", v)
	}
	// The ACD's own reason is labelled but not offered to operators.
	if NotReadyReasons.Has(ReasonNoAnswer) || !ReasonLabels().Has(ReasonNoAnswer) {
		t.Error("no_answer")
	}
}
