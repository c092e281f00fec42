// Package wire is the byte layout of Sentinel's cluster flow control protocol
// (the default token client and server of Sentinel 1.8), in both directions,
// so that Go and Java token clients and servers can talk to each other.
//
// Every message is a frame: a big-endian u16 payload length, then the payload.
// A frame is at most MaxFrameLen (1024) bytes including the two length bytes,
// so a payload holds at most MaxPayload (1022) bytes. The encoders refuse to
// build a longer frame (ErrFrameTooLarge) instead of sending one that a Java
// peer would drop without a word. Integers are big-endian two's complement,
// bools one byte, floats IEEE-754, strings an i32 byte length and the bytes.
//
// A request is `i32 xid | i8 type | data`:
//
//	PING        i32 len | namespace bytes            (xid 0)
//	FLOW        i64 flowId | i32 acquireCount | u8 prioritized (may be missing)
//	PARAM_FLOW  i64 flowId | i32 acquireCount | i32 paramCount | paramCount x (u8 tag | value)
//
// A response is `i32 xid | i8 type | i8 status | data`, where data is
// `i32 remaining | i32 waitInMs` for FLOW and PARAM_FLOW and `i32 connected`
// for PING. A reply to a bad request is the header alone.
//
// The decoders follow what a Java peer does with the same bytes: what Java
// answers (a PING without a namespace gets a bad-request reply) decodes to a
// Request the server can answer; what Java drops without a reply (a truncated
// body, an unknown type, PARAM_FLOW with no parameters) is an error. They never
// panic, and allocate no more than the payload they are given.
//
// Parameter values travel with Java's types: the eight Go types int32, int64,
// int8, float64, float32, int16, bool and string stand for Integer, Long,
// Byte, Double, Float, Short, Boolean and String (tags 0 to 7). JavaValue maps
// other Go values onto them.
package wire
