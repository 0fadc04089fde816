// Package cwmp is the vocabulary of the CPE WAN Management Protocol (TR-069,
// CWMP 1.0 to 1.4, Amendment 6): envelopes, header elements, every RPC and
// response in both directions, faults, event codes and typed parameter
// values.
//
// The package does no I/O and knows nothing about XML; the SOAP codec turns
// these values into bytes and back. Field names follow the element names of
// the Broadband Forum schemas so that a reader of TR-069 finds them.
package cwmp
