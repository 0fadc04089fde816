package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommittedTableIsCurrent keeps table_gen.go honest: it must be exactly
// what the generator makes of the committed models.
func TestCommittedTableIsCurrent(t *testing.T) {
	pkg := filepath.Join("..", "..")
	got, _, err := generate(filepath.Join(pkg, "testdata", "models"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(pkg, "table_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("table_gen.go is stale (first difference at line %d: generated %q, committed %q); run go generate ./core/internal/datamodel", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("table_gen.go is stale (%d generated lines, %d committed); run go generate ./core/internal/datamodel", len(gl), len(wl))
	}
}

// A miniature model exercising the cases the real files contain only a few
// times each.
const miniModel = `<?xml version="1.0"?>
<!DOCTYPE doc [ <!ENTITY dot "\."> ]>
<dm:document xmlns:dm="urn:broadband-forum-org:cwmp:datamodel-1-14">
  <dataType name="Counter"><unsignedLong/></dataType>
  <dataType name="BigCounter" base="Counter"><size/></dataType>
  <dataType name="Pair"><list minItems="2" maxItems="2"/><int/></dataType>
  <model name="Root:1.0">
    <object name="Root." access="readOnly" minEntries="1" maxEntries="1">
      <parameter name="Count" access="readOnly"><syntax><dataType ref="BigCounter"/></syntax></parameter>
      <parameter name="Level" access="readOnly"><syntax><dataType base="Pair"><units value="x"/></dataType></syntax></parameter>
      <parameter name="Names" access="readWrite"><syntax><list/><string><pattern value="a&dot;b"/></string><default type="object" value="a,b"/></syntax></parameter>
      <parameter name="Gone" access="readWrite" status="obsoleted"><syntax><boolean/></syntax></parameter>
      <parameter name="Port " access="readWrite"><syntax><int/><default type="object" value="1" status="deleted"/><default type="factory" value="-1"/></syntax></parameter>
    </object>
    <object name="Root.Table.{i}." access="readWrite" minEntries="0" maxEntries="unbounded" status="deprecated">
      <parameter name="Enable" access="readWrite"><syntax><boolean/><default type="object" value="false"/></syntax></parameter>
    </object>
    <object name="Root.Old.{i}." access="readWrite" minEntries="0" maxEntries="unbounded" status="obsoleted"/>
    <object name="Root.Old.{i}.Sub." access="readOnly" minEntries="1" maxEntries="1">
      <parameter name="X" access="readOnly"><syntax><string/></syntax></parameter>
    </object>
    <profile name="P:1">
      <object ref="Root.Table.{i}." requirement="createDelete">
        <parameter ref="Enable" requirement="readWrite"/>
      </object>
    </profile>
  </model>
</dm:document>
`

func TestWalkMiniModel(t *testing.T) {
	var m model
	m.file = "mini.xml"
	if err := walk(strings.NewReader(miniModel), "mini.xml", map[string]typeDef{}, &m); err != nil {
		t.Fatal(err)
	}
	src, err := emit([]*model{&m})
	if err != nil {
		t.Fatal(err)
	}
	want := "const table = `@Root:1.0\n" +
		"Root.\tor\n" +
		"\tCount\tUr\n" +
		"\tLevel\tsr\n" +
		"\tNames\tsw\t=a,b\n" +
		"\tPort\tiw\t=-1\n" +
		"Root.Table.{i}.\tow\n" +
		"\tEnable\tbw\t=false\n" +
		"`\n"
	if !strings.Contains(string(src), want) {
		t.Errorf("emitted table:\n%s\nwant it to contain:\n%s", src, want)
	}
	if len(m.notes) != 2 {
		t.Errorf("notes = %q, want the orphaned sub-object and the trimmed name", m.notes)
	}
}

func TestWalkRejects(t *testing.T) {
	for name, body := range map[string]string{
		"unknown type": `<object name="R." access="readOnly" maxEntries="1"><parameter name="P" access="readOnly"><syntax><dataType ref="Nope"/></syntax></parameter></object>`,
		"no type":      `<object name="R." access="readOnly" maxEntries="1"><parameter name="P" access="readOnly"><syntax/></parameter></object>`,
		"odd syntax":   `<object name="R." access="readOnly" maxEntries="1"><parameter name="P" access="readOnly"><syntax><float/></syntax></parameter></object>`,
		"bad access":   `<object name="R." access="readOnly" maxEntries="1"><parameter name="P" access="writeOnly"><syntax><int/></syntax></parameter></object>`,
		"dup param":    `<object name="R." access="readOnly" maxEntries="1"><parameter name="P" access="readOnly"><syntax><int/></syntax></parameter><parameter name="P" access="readOnly"><syntax><int/></syntax></parameter></object>`,
		"numeric name": `<object name="R." access="readOnly" maxEntries="1"><parameter name="7" access="readOnly"><syntax><int/></syntax></parameter></object>`,
		"object name":  `<object name="R" access="readOnly" maxEntries="1"/>`,
	} {
		doc := `<document><model name="R:1">` + body + `</model></document>`
		var m model
		err := walk(strings.NewReader(doc), name, map[string]typeDef{}, &m)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestEncodeDefault(t *testing.T) {
	for in, want := range map[string]string{
		"":         "",
		"Disabled": "Disabled",
		"0,1,2":    "0,1,2",
		`"`:        `"\""`,
		"a\tb":     `"a\tb"`,
		" pad":     `" pad"`,
		"tick`":    `"tick\x60"`,
		`back\`:    `"back\\"`,
	} {
		if got := encodeDefault(in); got != want {
			t.Errorf("encodeDefault(%q) = %s, want %s", in, got, want)
		}
	}
}
