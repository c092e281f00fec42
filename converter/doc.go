// Package converter turns rule payloads (Sentinel and Sentinel-dashboard JSON,
// and YAML) into the engine's typed rules and back. It does no I/O. Each rule
// family has a Codec; decoding is lenient where the input is unambiguous and
// reports every unknown key and every rejected rule.
package converter
