package wire

import (
	"math"
	"reflect"
)

// JavaValue maps a Go value onto the Java type it travels as, or reports false
// when the protocol cannot carry it (Sentinel's Java client drops such values
// too). The eight wire types are kept as they are: int32 (Integer), int64
// (Long), int8 (Byte), int16 (Short), float64 (Double), float32 (Float), bool
// and string. Go's int is 64 bits wide and becomes a Long; unsigned integers
// become a Long when they fit (Java has no unsigned types); []byte becomes a
// string. Named types (type UserID int32) go by their underlying kind. Pass an
// int32 where a Java peer uses an Integer: Integer 1 and Long 1 are different
// values to Sentinel.
func JavaValue(v any) (any, bool) {
	switch x := v.(type) {
	case string, int32, int64, int8, int16, float64, float32, bool:
		return x, true
	case int:
		return int64(x), true
	case []byte:
		return string(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		return unsignedValue(uint64(x))
	case uint64:
		return unsignedValue(x)
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int8:
		return int8(rv.Int()), true
	case reflect.Int16:
		return int16(rv.Int()), true
	case reflect.Int32:
		return int32(rv.Int()), true
	case reflect.Int, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return unsignedValue(rv.Uint())
	case reflect.Float32:
		return float32(rv.Float()), true
	case reflect.Float64:
		return rv.Float(), true
	case reflect.Bool:
		return rv.Bool(), true
	case reflect.String:
		return rv.String(), true
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return string(rv.Bytes()), true
		}
	}
	return nil, false
}

func unsignedValue(n uint64) (any, bool) {
	if n > math.MaxInt64 {
		return nil, false
	}
	return int64(n), true
}
