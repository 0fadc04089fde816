package soap

import (
	"strconv"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

// encBenchEnvelope is a SetParameterValues of 100 values of mixed types as a
// provisioning script sends them: mostly strings and integers, some
// booleans and dates, a few values typed from the data model, one that
// needs escaping.
func encBenchEnvelope() *cwmp.Envelope {
	vals := make([]cwmp.ParameterValue, 0, 100)
	when := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for i := range 100 {
		inst := strconv.Itoa(i%8 + 1)
		var p cwmp.ParameterValue
		switch i % 10 {
		case 0, 1, 2:
			p = cwmp.ParameterValue{Name: "Device.WiFi.SSID." + inst + ".SSID", Value: cwmp.String("guest-network-" + inst)}
		case 3:
			p = cwmp.ParameterValue{Name: "Device.WiFi.AccessPoint." + inst + ".Security.KeyPassphrase", Value: cwmp.String("p&ss<word>" + inst)}
		case 4:
			p = cwmp.ParameterValue{Name: "Device.WiFi.Radio." + inst + ".Channel", Value: cwmp.Uint(uint32(i))}
		case 5:
			p = cwmp.ParameterValue{Name: "Device.WiFi.Radio." + inst + ".Enable", Value: cwmp.Bool(i%2 == 0)}
		case 6:
			p = cwmp.ParameterValue{Name: "Device.Routing.Router.1.IPv4Forwarding." + inst + ".ForwardingMetric", Value: cwmp.Int(int32(-i))}
		case 7:
			p = cwmp.ParameterValue{Name: "Device.ManagementServer.PeriodicInformTime", Value: cwmp.Time(when)}
		case 8:
			p = cwmp.ParameterValue{Name: "Device.IP.Interface." + inst + ".Stats.BytesSent", Value: cwmp.ULong(uint64(i) << 40)}
		case 9:
			// No type given: the data model supplies unsignedInt.
			p = cwmp.ParameterValue{Name: "Device.ManagementServer.PeriodicInformInterval", Value: cwmp.Value{Text: strconv.Itoa(i * 60)}}
		}
		vals = append(vals, p)
	}
	return &cwmp.Envelope{
		Namespace: cwmp.NS10,
		Header:    cwmp.Header{ID: "1234567", HasID: true},
		Body:      &cwmp.SetParameterValues{ParameterList: vals, ParameterKey: "provision-42"},
	}
}

func BenchmarkEncodeSetParameterValues100(b *testing.B) {
	env := encBenchEnvelope()
	dst := Encode(nil, env, Options{}) // warms the data-model table too
	b.SetBytes(int64(len(dst)))
	b.ReportAllocs()
	for b.Loop() {
		dst = Encode(dst[:0], env, Options{})
	}
}

// BenchmarkEncodeSetParameterValues100Fresh is the same message into a nil
// dst: the cost of growing the buffer, for callers that do not pool one.
func BenchmarkEncodeSetParameterValues100Fresh(b *testing.B) {
	env := encBenchEnvelope()
	Encode(nil, env, Options{})
	b.ReportAllocs()
	for b.Loop() {
		Encode(nil, env, Options{})
	}
}
