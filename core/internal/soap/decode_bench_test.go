package soap

import (
	"bytes"
	"encoding/xml"

	"github.com/beevik/etree"
	"io"
	"os"
	"strconv"
	"testing"
)

func benchInform(b *testing.B) []byte {
	data, err := os.ReadFile("testdata/bench/inform-20.xml")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// gpvResponse builds a GetParameterValuesResponse with n parameters, shaped
// like a device's full tree.
func gpvResponse(n int) []byte {
	var w bytes.Buffer
	w.WriteString(`<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">42</cwmp:ID></soap-env:Header><soap-env:Body><cwmp:GetParameterValuesResponse>`)
	w.WriteString(`<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[` + strconv.Itoa(n) + `]">`)
	for i := range n {
		w.WriteString("\n  <ParameterValueStruct><Name>Device.Ethernet.Interface.")
		w.WriteString(strconv.Itoa(i/10 + 1))
		w.WriteString(".Stats.Counter")
		w.WriteString(strconv.Itoa(i % 10))
		if i%3 == 0 {
			w.WriteString(`</Name><Value xsi:type="xsd:string">value-`)
		} else {
			w.WriteString(`</Name><Value xsi:type="xsd:unsignedLong">`)
		}
		w.WriteString(strconv.Itoa(i * 7919))
		w.WriteString("</Value></ParameterValueStruct>")
	}
	w.WriteString("</ParameterList></cwmp:GetParameterValuesResponse></soap-env:Body></soap-env:Envelope>")
	return w.Bytes()
}

func BenchmarkDecodeInform20(b *testing.B) {
	data := benchInform(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGPVResponse1000(b *testing.B) {
	data := gpvResponse(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		env, err := Decode(data, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		_ = env
	}
}

// The baselines measure encoding/xml only walking the tokens of the same
// messages, without building anything: a floor for any decoder built on
// it, so the ratio to it is what the hand-written scanner buys.
func BenchmarkBaselineEncodingXMLTokensInform20(b *testing.B) {
	benchTokens(b, benchInform(b))
}

func BenchmarkBaselineEncodingXMLTokensGPV1000(b *testing.B) {
	benchTokens(b, gpvResponse(1000))
}

func benchTokens(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		dec := xml.NewDecoder(bytes.NewReader(data))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// etree is the DOM library the project card names; building its tree of the
// same Inform, before reading a single field, is the baseline the
// hand-written scanner is measured against.
func BenchmarkBaselineEtreeInform20(b *testing.B) {
	data := benchInform(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineEtreeGPV1000(b *testing.B) {
	data := gpvResponse(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(data); err != nil {
			b.Fatal(err)
		}
	}
}
