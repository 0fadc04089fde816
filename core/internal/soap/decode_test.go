package soap

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// methodFromFile derives the expected RPC from a corpus file name such as
// "zyxel-inform-2.xml" or "googlefiber-acs-getparametervalues-1.xml".
func methodFromFile(name string) string {
	switch filepath.Base(name) {
	case "easycwmp-getrpcmethods-response.xml":
		return "GetRPCMethodsResponse"
	case "easycwmp-gpa-response.INVALID.xml":
		return "GetParameterAttributesResponse"
	case "easycwmp-inform-mreboot-boot-transfercomplete.xml":
		return "Inform"
	case "genieacs-sim-gpn-response.xml":
		return "GetParameterNamesResponse"
	}
	base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".xml"), ".INVALID")
	parts := strings.Split(base, "-")
	for i := len(parts) - 1; i >= 0; i-- {
		for _, m := range append(cwmp.Methods(), "Fault") {
			if strings.EqualFold(m, parts[i]) {
				return m
			}
		}
	}
	return ""
}

// countItems counts array members in the raw text with a pattern, as an
// oracle independent of the decoder and of the arrayType attribute.
func countItems(data []byte, element string) int {
	re := regexp.MustCompile(`<([A-Za-z0-9_]+:)?` + element + `[\s>/]`)
	return len(re.FindAll(data, -1))
}

func TestCorpusMessagesDecode(t *testing.T) {
	files, err := filepath.Glob("testdata/cwmp-corpus/messages/*.xml")
	if err != nil || len(files) != 45 {
		t.Fatalf("want the 45 corpus messages, got %d (%v)", len(files), err)
	}
	examples, _ := filepath.Glob("testdata/cwmp-xsd/examples/*.xml")
	if len(examples) != 13 {
		t.Fatalf("want the 13 schema examples, got %d", len(examples))
	}
	for _, f := range append(files, examples...) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data := readFile(t, f)
			env, err := Decode(data, Limits{})
			if filepath.Base(f) == "avm-inform-1.xml" {
				// The one message that is not well-formed XML.
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("want ErrMalformed, got %v", err)
				}
				var se *Error
				if !errors.As(err, &se) || se.Offset <= 0 {
					t.Fatalf("want an *Error with an offset, got %#v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := methodFromFile(f)
			if env.Body == nil || env.Body.Method() != want {
				t.Fatalf("body = %v, want %s", env.Body, want)
			}
			if !cwmp.IsNamespace(env.Namespace) {
				t.Errorf("namespace %q not recognised", env.Namespace)
			}
			switch b := env.Body.(type) {
			case *cwmp.Inform:
				if b.DeviceID.OUI == "" || b.DeviceID.SerialNumber == "" {
					t.Errorf("device id incomplete: %+v", b.DeviceID)
				}
				if len(b.Events) == 0 || len(b.Events) != countItems(data, "EventStruct") {
					t.Errorf("events = %d, text has %d", len(b.Events), countItems(data, "EventStruct"))
				}
				if n := countItems(data, "ParameterValueStruct"); len(b.ParameterList) != n {
					t.Errorf("parameters = %d, text has %d", len(b.ParameterList), n)
				}
				for _, p := range b.ParameterList {
					if p.Name == "" || strings.TrimSpace(p.Name) != p.Name {
						t.Errorf("parameter name %q not trimmed", p.Name)
					}
				}
			case *cwmp.GetParameterValuesResponse:
				if n := countItems(data, "ParameterValueStruct"); len(b.ParameterList) != n || n == 0 {
					t.Errorf("parameters = %d, text has %d", len(b.ParameterList), n)
				}
			case *cwmp.GetParameterNamesResponse:
				if n := countItems(data, "ParameterInfoStruct"); len(b.ParameterList) != n || n == 0 {
					t.Errorf("parameters = %d, text has %d", len(b.ParameterList), n)
				}
			case *cwmp.SetParameterValues:
				if n := countItems(data, "ParameterValueStruct"); len(b.ParameterList) != n || n == 0 {
					t.Errorf("parameters = %d, text has %d", len(b.ParameterList), n)
				}
			case *cwmp.GetParameterValues:
				if len(b.ParameterNames) == 0 {
					t.Error("no parameter names")
				}
			case *cwmp.Fault:
				if b.Code < 8000 {
					t.Errorf("fault code %d", b.Code)
				}
			}
		})
	}
}

// Field-level checks on real messages, for what the index says is unusual.
func TestCorpusDetails(t *testing.T) {
	dir := "testdata/cwmp-corpus/messages/"
	decode := func(t *testing.T, name string) *cwmp.Envelope {
		t.Helper()
		env, err := Decode(readFile(t, dir+name), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	t.Run("thomson fault with two SetParameterValuesFaults", func(t *testing.T) {
		f := decode(t, "thomson-fault-1.xml").Body.(*cwmp.Fault)
		if f.Code != 9003 || f.SOAPCode != "Client" || len(f.SetParameterValuesFaults) != 2 ||
			f.SetParameterValuesFaults[1].ParameterName != "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.3.WANPPPConnection.1.Username" ||
			f.SetParameterValuesFaults[0].FaultCode != 9003 {
			t.Fatalf("%+v", f)
		}
	})
	t.Run("goacs ID wrapped in white space", func(t *testing.T) {
		env := decode(t, "goacs-fixture-fault-1.xml")
		if env.Header.ID != "1613234170798113" || !env.Header.IDMustUnderstand {
			t.Fatalf("%+v", env.Header)
		}
		if f := env.Body.(*cwmp.Fault); f.SetParameterValuesFaults[0].FaultCode != 9008 {
			t.Fatalf("%+v", f)
		}
	})
	t.Run("unknown cpe transfer complete with 0001 sentinel", func(t *testing.T) {
		tc := decode(t, "unknown-cpe-transfercomplete-1.xml").Body.(*cwmp.TransferComplete)
		if tc.FaultStruct.FaultCode != 9015 || !tc.StartTime.Equal(cwmp.UnknownTime) || tc.CommandKey != "" {
			t.Fatalf("%+v", tc)
		}
	})
	t.Run("thomson leading zero retry count and MaxEnvelopes 2", func(t *testing.T) {
		in := decode(t, "thomson-inform-1.xml").Body.(*cwmp.Inform)
		if in.RetryCount != 5 || in.MaxEnvelopes != 2 {
			t.Fatalf("retry %d max %d", in.RetryCount, in.MaxEnvelopes)
		}
	})
	t.Run("cytco invalid CurrentTime read leniently", func(t *testing.T) {
		in := decode(t, "cytco-inform-1.xml").Body.(*cwmp.Inform)
		want := time.Date(2019, 3, 5, 11, 54, 14, 0, time.UTC)
		if !in.CurrentTime.Equal(want) || in.RetryCount != 942 || in.DeviceID.OUI != "00a859" {
			t.Fatalf("time %v retry %d oui %q", in.CurrentTime, in.RetryCount, in.DeviceID.OUI)
		}
	})
	t.Run("zte duplicate parameter kept", func(t *testing.T) {
		in := decode(t, "zte-inform-1.xml").Body.(*cwmp.Inform)
		if in.Events[0].EventCode != cwmp.EventBootstrap || in.Events[0].CommandKey != "TR069_ZTE_HOMEGATEWAY" {
			t.Fatalf("%+v", in.Events)
		}
	})
	t.Run("zhone literal (null)", func(t *testing.T) {
		in := decode(t, "zhone-inform-1.xml").Body.(*cwmp.Inform)
		found := false
		for _, p := range in.ParameterList {
			if strings.HasSuffix(p.Name, "ParameterKey") && p.Value.Text == "(null)" {
				found = true
			}
		}
		if !found {
			t.Fatal("ParameterKey (null) not kept as sent")
		}
	})
	t.Run("cisco Writable 30 is not a crash", func(t *testing.T) {
		r := decode(t, "cisco-femto-getparameternamesresponse-1.xml").Body.(*cwmp.GetParameterNamesResponse)
		if len(r.ParameterList) != 227 {
			t.Fatalf("%d", len(r.ParameterList))
		}
	})
	t.Run("rtkont 3 MB response with 9263 names", func(t *testing.T) {
		r := decode(t, "rtkont-getparameternamesresponse-1.xml").Body.(*cwmp.GetParameterNamesResponse)
		if len(r.ParameterList) != 9263 {
			t.Fatalf("%d", len(r.ParameterList))
		}
	})
	t.Run("googlefiber lowercase method event and microseconds", func(t *testing.T) {
		in := decode(t, "googlefiber-gfhd100-inform-1.xml").Body.(*cwmp.Inform)
		info := cwmp.ParseEvent(string(in.Events[1].EventCode))
		if info.Kind != cwmp.EventMethod || in.CurrentTime.IsZero() {
			t.Fatalf("%+v %v", info, in.CurrentTime)
		}
	})
	t.Run("msacs HoldRequests without ID", func(t *testing.T) {
		env := decode(t, "msacs-setparametervalues-1.xml")
		if env.Header.HasID || env.Header.HoldRequests == nil || *env.Header.HoldRequests {
			t.Fatalf("%+v", env.Header)
		}
		spv := env.Body.(*cwmp.SetParameterValues)
		for _, p := range spv.ParameterList {
			if p.Value.Type == "" {
				t.Fatalf("empty type for %s", p.Name)
			}
		}
	})
}

func envelope(ns, header, body string) []byte {
	h := ""
	if header != "" {
		h = "<soap-env:Header>" + header + "</soap-env:Header>"
	}
	return []byte(`<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="` + ns + `">` + h + `<soap-env:Body>` + body + `</soap-env:Body></soap-env:Envelope>`)
}

func mustDecode(t *testing.T, data []byte) *cwmp.Envelope {
	t.Helper()
	env, err := Decode(data, Limits{})
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, data)
	}
	return env
}

func informWith(params string) string {
	return `<cwmp:Inform><DeviceId><Manufacturer>M</Manufacturer><OUI>00D0B7</OUI><ProductClass>P</ProductClass><SerialNumber>S1</SerialNumber></DeviceId><Event><EventStruct><EventCode>2 PERIODIC</EventCode><CommandKey/></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount><ParameterList>` + params + `</ParameterList></cwmp:Inform>`
}

// One test per tolerated quirk of Part C of the CWMP reference, named after
// the quirk's number and symptom.
func TestQuirks(t *testing.T) {
	pv := func(name, typ, val string) string {
		attr := ""
		if typ != "" {
			attr = ` xsi:type="` + typ + `"`
		}
		return `<ParameterValueStruct><Name>` + name + `</Name><Value` + attr + `>` + val + `</Value></ParameterValueStruct>`
	}
	first := func(env *cwmp.Envelope) cwmp.ParameterValue {
		return env.Body.(*cwmp.Inform).ParameterList[0]
	}
	cases := []struct {
		name  string
		input []byte
		check func(t *testing.T, env *cwmp.Envelope)
	}{
		{"C01_NoHeaderNoID", envelope(cwmp.NS10, "", informWith("")), func(t *testing.T, env *cwmp.Envelope) {
			if env.Header.HasID {
				t.Fatal("ID invented")
			}
		}},
		{"C02_EmptyHeader", []byte(strings.Replace(string(envelope(cwmp.NS10, "", informWith(""))), "<soap-env:Body>", "<soap-env:Header/><soap-env:Body>", 1)), func(t *testing.T, env *cwmp.Envelope) {
			if _, ok := env.Body.(*cwmp.Inform); !ok {
				t.Fatal(env.Body)
			}
		}},
		{"C03_MustUnderstandInEncodingNamespace", envelope(cwmp.NS10, `<cwmp:ID soap-enc:mustUnderstand="1">77</cwmp:ID>`, informWith("")), func(t *testing.T, env *cwmp.Envelope) {
			if env.Header.ID != "77" || !env.Header.IDMustUnderstand {
				t.Fatalf("%+v", env.Header)
			}
		}},
		{"C04_ArbitraryPrefixesAndSingleQuotes", []byte(`<soap_env:Envelope xmlns:soap_env='http://schemas.xmlsoap.org/soap/envelope/' xmlns:x='urn:dslforum-org:cwmp-1-0' xmlns:i='http://www.w3.org/2001/XMLSchema-instance'><soap_env:Body><x:Inform><DeviceId><OUI>00D0B7</OUI><SerialNumber>S</SerialNumber></DeviceId><ParameterList><ParameterValueStruct><Name>Device.A</Name><Value i:type='q:int'>5</Value></ParameterValueStruct></ParameterList></x:Inform></soap_env:Body></soap_env:Envelope>`), func(t *testing.T, env *cwmp.Envelope) {
			if env.Namespace != cwmp.NS10 || first(env).Value.Type != cwmp.TypeInt {
				t.Fatalf("%s %+v", env.Namespace, first(env))
			}
		}},
		{"C10_BooleanLiterals", envelope(cwmp.NS10, "", `<cwmp:GetParameterNamesResponse><ParameterList><ParameterInfoStruct><Name>A</Name><Writable>1</Writable></ParameterInfoStruct><ParameterInfoStruct><Name>B</Name><Writable>true</Writable></ParameterInfoStruct><ParameterInfoStruct><Name>C</Name><Writable> FALSE </Writable></ParameterInfoStruct></ParameterList></cwmp:GetParameterNamesResponse>`), func(t *testing.T, env *cwmp.Envelope) {
			l := env.Body.(*cwmp.GetParameterNamesResponse).ParameterList
			if !l[0].Writable || !l[1].Writable || l[2].Writable {
				t.Fatalf("%+v", l)
			}
		}},
		{"C11_DateTimeForms", envelope(cwmp.NS10, "", `<cwmp:TransferComplete><CommandKey>k</CommandKey><FaultStruct><FaultCode>0</FaultCode><FaultString/></FaultStruct><StartTime>2015-01-19T23:08:24</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:TransferComplete>`), func(t *testing.T, env *cwmp.Envelope) {
			tc := env.Body.(*cwmp.TransferComplete)
			if !tc.StartTime.Equal(time.Date(2015, 1, 19, 23, 8, 24, 0, time.UTC)) || !tc.CompleteTime.Equal(cwmp.UnknownTime) {
				t.Fatalf("%+v", tc)
			}
		}},
		{"C14_WhitespaceInsideText", envelope(cwmp.NS10, "<cwmp:ID>\n  42\n</cwmp:ID>", informWith(pv("\n Device.A \n", "xsd:unsignedInt", "\n 7 \n")+pv("Device.B", "xsd:string", "\n keep \n"))), func(t *testing.T, env *cwmp.Envelope) {
			l := env.Body.(*cwmp.Inform).ParameterList
			if env.Header.ID != "42" || l[0].Name != "Device.A" || l[0].Value.Text != "7" || l[1].Value.Text != "\n keep \n" {
				t.Fatalf("%q %+v", env.Header.ID, l)
			}
		}},
		{"C15_ControlCharacters", envelope(cwmp.NS10, "", informWith(pv("Device.A", "xsd:string", "a\x01b\x1fc"))), func(t *testing.T, env *cwmp.Envelope) {
			if first(env).Value.Text != "a\x01b\x1fc" {
				t.Fatalf("%q", first(env).Value.Text)
			}
		}},
		{"C16_ArrayTypeLies", envelope(cwmp.NS10, "", `<cwmp:GetParameterValues><ParameterNames soap-enc:arrayType="xsd:string[0008]"><string>A.</string><string>B.</string></ParameterNames></cwmp:GetParameterValues>`), func(t *testing.T, env *cwmp.Envelope) {
			if n := env.Body.(*cwmp.GetParameterValues).ParameterNames; len(n) != 2 {
				t.Fatalf("%v", n)
			}
		}},
		{"C17_MissingXsiType", envelope(cwmp.NS10, "", informWith(pv("X_VENDOR.Thing", "", "abc"))), func(t *testing.T, env *cwmp.Envelope) {
			v := first(env).Value
			if !v.Untyped || v.Type != cwmp.TypeString || v.Text != "abc" {
				t.Fatalf("%+v", v)
			}
		}},
		{"C18_BigIntegerTypedUnsignedInt", envelope(cwmp.NS10, "", informWith(pv("Device.Ethernet.Interface.4.Stats.BytesSent", "xsd:unsignedInt", "7130400526")+pv("Device.X", "xsd:dateTime", ""))), func(t *testing.T, env *cwmp.Envelope) {
			l := env.Body.(*cwmp.Inform).ParameterList
			n, err := l[0].Value.Uint64()
			if err != nil || n != 7130400526 {
				t.Fatalf("%v %v", n, err)
			}
			if tm, err := l[1].Value.Time(); err != nil || !tm.IsZero() {
				t.Fatalf("empty dateTime: %v %v", tm, err)
			}
		}},
		{"C19_SparseInstanceNumbers", envelope(cwmp.NS10, "", `<cwmp:AddObjectResponse><InstanceNumber>4294967295</InstanceNumber><Status>0</Status></cwmp:AddObjectResponse>`), func(t *testing.T, env *cwmp.Envelope) {
			if r := env.Body.(*cwmp.AddObjectResponse); r.InstanceNumber != 4294967295 {
				t.Fatalf("%+v", r)
			}
		}},
		{"C21_TransferCompleteChildrenOutOfOrder", envelope(cwmp.NS10, "", `<cwmp:TransferComplete><CompleteTime>2026-01-01T00:00:02Z</CompleteTime><StartTime>2026-01-01T00:00:01Z</StartTime><CommandKey>dl-1</CommandKey><FaultStruct><FaultString>x</FaultString><FaultCode>9010</FaultCode></FaultStruct></cwmp:TransferComplete>`), func(t *testing.T, env *cwmp.Envelope) {
			tc := env.Body.(*cwmp.TransferComplete)
			if tc.CommandKey != "dl-1" || tc.FaultStruct.FaultCode != 9010 || tc.CompleteTime.Sub(tc.StartTime) != time.Second {
				t.Fatalf("%+v", tc)
			}
		}},
		{"C27_UnknownCWMPNamespaceEchoed", envelope("urn:dslforum-org:cwmp-1-9", "", informWith("")), func(t *testing.T, env *cwmp.Envelope) {
			if env.Namespace != "urn:dslforum-org:cwmp-1-9" {
				t.Fatal(env.Namespace)
			}
		}},
		{"C28_WhitespaceOnlyBodyIsEmptyPOST", []byte(" \r\n\t"), func(t *testing.T, env *cwmp.Envelope) {
			if env != nil {
				t.Fatal("want the empty POST")
			}
		}},
		{"C30_VendorFileTypeAndEventCode", envelope(cwmp.NS10, "", `<cwmp:Inform><DeviceId><OUI>E48D8C</OUI><SerialNumber>S</SerialNumber></DeviceId><Event><EventStruct><EventCode>X MIKROTIK Config Changed</EventCode></EventStruct></Event></cwmp:Inform>`), func(t *testing.T, env *cwmp.Envelope) {
			info := cwmp.ParseEvent(string(env.Body.(*cwmp.Inform).Events[0].EventCode))
			if info.Kind != cwmp.EventVendor || info.Vendor != "MIKROTIK" || info.Name != "Config Changed" {
				t.Fatalf("%+v", info)
			}
		}},
		{"LowercaseMethodName", envelope(cwmp.NS10, "", `<cwmp:inform><DeviceId><OUI>A</OUI></DeviceId></cwmp:inform>`), func(t *testing.T, env *cwmp.Envelope) {
			if _, ok := env.Body.(*cwmp.Inform); !ok {
				t.Fatalf("%T", env.Body)
			}
		}},
		{"VendorRPCIsUnknown", envelope(cwmp.NS12, "", `<cwmp:X_0012AB_Foo><A>1</A></cwmp:X_0012AB_Foo>`), func(t *testing.T, env *cwmp.Envelope) {
			u, ok := env.Body.(*cwmp.Unknown)
			if !ok || u.Name != "X_0012AB_Foo" || u.Namespace != cwmp.NS12 {
				t.Fatalf("%#v", env.Body)
			}
		}},
		{"EntitiesAndCDATA", envelope(cwmp.NS10, "", informWith(pv("Device.A", "xsd:string", "a&amp;b&#x41;&#66;<![CDATA[<c>]]>"))), func(t *testing.T, env *cwmp.Envelope) {
			if first(env).Value.Text != "a&bAB<c>" {
				t.Fatalf("%q", first(env).Value.Text)
			}
		}},
		{"CRLFNormalised", envelope(cwmp.NS10, "", informWith(pv("Device.A", "xsd:string", "a\r\nb\rc"))), func(t *testing.T, env *cwmp.Envelope) {
			if first(env).Value.Text != "a\nb\nc" {
				t.Fatalf("%q", first(env).Value.Text)
			}
		}},
		{"Latin1Declaration", append([]byte("<?xml version='1.0' encoding='ISO-8859-1'?>"), envelope(cwmp.NS10, "", informWith(pv("Device.A", "xsd:string", "caf\xe9")))...), func(t *testing.T, env *cwmp.Envelope) {
			if first(env).Value.Text != "café" {
				t.Fatalf("%q", first(env).Value.Text)
			}
		}},
		{"Version14Headers", envelope(cwmp.NS12, `<cwmp:ID soap-env:mustUnderstand="1">1</cwmp:ID><cwmp:SessionTimeout>60</cwmp:SessionTimeout><cwmp:SupportedCWMPVersions soap-env:mustUnderstand="0">1.0,1.1,1.2,1.3,1.4</cwmp:SupportedCWMPVersions><cwmp:HoldRequests soap-env:mustUnderstand="1">1</cwmp:HoldRequests><cwmp:NoMoreRequests>1</cwmp:NoMoreRequests>`, informWith("")), func(t *testing.T, env *cwmp.Envelope) {
			h := env.Header
			if *h.SessionTimeout != 60 || !*h.HoldRequests || !*h.NoMoreRequests || env.Version() != cwmp.V14 {
				t.Fatalf("%+v %v", h, env.Version())
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, mustDecode(t, c.input)) })
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  error
	}{
		{"truncated", `<soap-env:Envelope xmlns:soap-env="x"><soap-env:Body><cwmp:Inform>`, ErrMalformed},
		{"mismatched end tag", `<a:Envelope><a:Body></a:Bod></a:Envelope>`, ErrMalformed},
		{"undefined entity", `<Envelope><Body>&lol;</Body></Envelope>`, ErrMalformed},
		{"unquoted attribute", `<Envelope a=1><Body/></Envelope>`, ErrMalformed},
		{"lt in attribute", `<Envelope a="<"><Body/></Envelope>`, ErrMalformed},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]><Envelope><Body/></Envelope>`, ErrDTD},
		{"not an envelope", `<Inform/>`, ErrNotEnvelope},
		{"no body", `<Envelope><Header/></Envelope>`, ErrNotEnvelope},
		{"invalid utf-8", "<Envelope><Body>\xff\xfe</Body></Envelope>", ErrEncoding},
		{"end tag without start", `</Envelope>`, ErrMalformed},
		{"bad char ref", `<Envelope><Body>&#xZZ;</Body></Envelope>`, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.input), Limits{})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}
