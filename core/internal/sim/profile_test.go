package sim

import (
	"strings"
	"testing"
)

func TestProfilesBuild(t *testing.T) {
	for _, name := range ProfileNames() {
		t.Run(name, func(t *testing.T) {
			p, err := LookupProfile(name)
			if err != nil {
				t.Fatal(err)
			}
			params, objects := p.Entries()
			t.Logf("%s: %d parameters, %d objects, %d row schemas", name, params, objects, len(p.rows))
			if params < 200 || params > 1500 {
				t.Errorf("%d parameters: not a realistic router", params)
			}
			for _, n := range p.InformParams {
				if !strings.HasPrefix(n, p.Root) {
					t.Errorf("inform parameter %s outside %s", n, p.Root)
				}
			}
		})
	}
}
