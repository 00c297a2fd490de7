package gguf

import (
	"fmt"
	"math"
)

// ValueType is the type id of a metadata value.
type ValueType uint32

// Metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// size is the encoded size of a scalar of type t, 0 for strings and arrays.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// Value is one metadata value. V holds the Go value:
//
//	uint8 int8 uint16 int16 uint32 int32 float32 bool string uint64 int64 float64
//
// for scalars, and for arrays an Array.
type Value struct {
	Type ValueType
	V    any
}

// Array is a metadata array. Values is a typed slice for scalar element types
// ([]uint8, []int32, []float32, []string, ...) and []Array for arrays of
// arrays.
type Array struct {
	Elem   ValueType
	Values any
}

// Len is the number of elements of a.
func (a Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	case []Array:
		return len(v)
	}
	return 0
}

// Uint returns an unsigned integer value of any integer type (negative
// values are an error).
func (v Value) Uint() (uint64, error) {
	switch x := v.V.(type) {
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case uint64:
		return x, nil
	case int8, int16, int32, int64:
		i, _ := v.Int()
		if i < 0 {
			return 0, fmt.Errorf("negative value %d", i)
		}
		return uint64(i), nil
	}
	return 0, fmt.Errorf("%s is not an integer", v.Type)
}

// Int returns a signed integer value of any integer type.
func (v Value) Int() (int64, error) {
	switch x := v.V.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint8, uint16, uint32:
		u, _ := v.Uint()
		return int64(u), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("value %d overflows int64", x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("%s is not an integer", v.Type)
}

// Float returns a float or integer value as float64.
func (v Value) Float() (float64, error) {
	switch x := v.V.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	case uint64:
		// Int rejects values above MaxInt64; they are still numbers.
		return float64(x), nil
	}
	if i, err := v.Int(); err == nil {
		return float64(i), nil
	}
	return 0, fmt.Errorf("%s is not a number", v.Type)
}

// String returns a string value.
func (v Value) String() (string, error) {
	if s, ok := v.V.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("%s is not a string", v.Type)
}

// Bool returns a bool value.
func (v Value) Bool() (bool, error) {
	if b, ok := v.V.(bool); ok {
		return b, nil
	}
	return false, fmt.Errorf("%s is not a bool", v.Type)
}

// Array returns an array value.
func (v Value) Array() (Array, error) {
	if a, ok := v.V.(Array); ok {
		return a, nil
	}
	return Array{}, fmt.Errorf("%s is not an array", v.Type)
}

// Scalar constructors for building metadata to write.

func Uint32(x uint32) Value   { return Value{TypeUint32, x} }
func Int32(x int32) Value     { return Value{TypeInt32, x} }
func Uint64(x uint64) Value   { return Value{TypeUint64, x} }
func Float32(x float32) Value { return Value{TypeFloat32, x} }
func Bool(x bool) Value       { return Value{TypeBool, x} }
func String(x string) Value   { return Value{TypeString, x} }

// ArrayOf wraps a typed slice ([]string, []float32, []int32, ...) as an array
// value. It panics on an unsupported slice type (a programming error).
func ArrayOf(values any) Value {
	e, ok := sliceElemType(values)
	if !ok {
		panic(fmt.Sprintf("gguf.ArrayOf: unsupported slice type %T", values))
	}
	return Value{TypeArray, Array{Elem: e, Values: values}}
}

// sliceElemType is the element type of a typed slice that can be an
// Array's Values.
func sliceElemType(values any) (ValueType, bool) {
	switch values.(type) {
	case []uint8:
		return TypeUint8, true
	case []int8:
		return TypeInt8, true
	case []uint16:
		return TypeUint16, true
	case []int16:
		return TypeInt16, true
	case []uint32:
		return TypeUint32, true
	case []int32:
		return TypeInt32, true
	case []float32:
		return TypeFloat32, true
	case []bool:
		return TypeBool, true
	case []string:
		return TypeString, true
	case []uint64:
		return TypeUint64, true
	case []int64:
		return TypeInt64, true
	case []float64:
		return TypeFloat64, true
	case []Array:
		return TypeArray, true
	}
	return 0, false
}

// scalarType is the value type of a Go scalar that can be a Value's V.
func scalarType(x any) (ValueType, bool) {
	switch x.(type) {
	case uint8:
		return TypeUint8, true
	case int8:
		return TypeInt8, true
	case uint16:
		return TypeUint16, true
	case int16:
		return TypeInt16, true
	case uint32:
		return TypeUint32, true
	case int32:
		return TypeInt32, true
	case float32:
		return TypeFloat32, true
	case bool:
		return TypeBool, true
	case string:
		return TypeString, true
	case uint64:
		return TypeUint64, true
	case int64:
		return TypeInt64, true
	case float64:
		return TypeFloat64, true
	}
	return 0, false
}

// checkValue reports a Value whose Type does not match its Go value (the
// encoder writes by Go type, so a mismatch would produce a corrupt file) or
// whose arrays nest deeper than the reader accepts.
func checkValue(v Value, depth int) error {
	if v.Type == TypeArray {
		a, ok := v.V.(Array)
		if !ok {
			return fmt.Errorf("value of type array holds Go %T", v.V)
		}
		return checkArray(a, depth+1)
	}
	if t, ok := scalarType(v.V); !ok || t != v.Type {
		return fmt.Errorf("value of type %s holds Go %T", v.Type, v.V)
	}
	return nil
}

func checkArray(a Array, depth int) error {
	if depth > maxArrayDepth {
		return fmt.Errorf("arrays nested deeper than %d", maxArrayDepth)
	}
	if a.Values == nil {
		// An empty array: only the element type is written.
		if a.Elem.size() == 0 && a.Elem != TypeString && a.Elem != TypeArray {
			return fmt.Errorf("array of unknown element type %d", uint32(a.Elem))
		}
		return nil
	}
	e, ok := sliceElemType(a.Values)
	if !ok || e != a.Elem {
		return fmt.Errorf("array of element type %s holds Go %T", a.Elem, a.Values)
	}
	if inner, ok := a.Values.([]Array); ok {
		for i := range inner {
			if err := checkArray(inner[i], depth+1); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
	}
	return nil
}

// Typed lookups on a File, for the common cases. Each returns an error that
// names the key when it is missing or of the wrong type.

func (f *File) lookup(key string) (Value, error) {
	v, ok := f.Get(key)
	if !ok {
		return Value{}, fmt.Errorf("gguf: metadata key %q is missing", key)
	}
	return v, nil
}

// GetString returns a string value.
func (f *File) GetString(key string) (string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return "", err
	}
	s, err := v.String()
	if err != nil {
		return "", fmt.Errorf("gguf: metadata key %q: %w", key, err)
	}
	return s, nil
}

// GetUint returns an integer value of any integer type.
func (f *File) GetUint(key string) (uint64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	u, err := v.Uint()
	if err != nil {
		return 0, fmt.Errorf("gguf: metadata key %q: %w", key, err)
	}
	return u, nil
}

// GetFloat returns a numeric value as float64.
func (f *File) GetFloat(key string) (float64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	x, err := v.Float()
	if err != nil {
		return 0, fmt.Errorf("gguf: metadata key %q: %w", key, err)
	}
	return x, nil
}

// GetBool returns a bool value.
func (f *File) GetBool(key string) (bool, error) {
	v, err := f.lookup(key)
	if err != nil {
		return false, err
	}
	b, err := v.Bool()
	if err != nil {
		return false, fmt.Errorf("gguf: metadata key %q: %w", key, err)
	}
	return b, nil
}

// GetArray returns the typed slice of an array value; T must match the
// element type ([]string for strings, []float32 for float32, ...).
func GetArray[T any](f *File, key string) ([]T, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	a, err := v.Array()
	if err != nil {
		return nil, fmt.Errorf("gguf: metadata key %q: %w", key, err)
	}
	s, ok := a.Values.([]T)
	if !ok {
		var zero T
		return nil, fmt.Errorf("gguf: metadata key %q: array of %s, want %T elements", key, a.Elem, zero)
	}
	return s, nil
}
