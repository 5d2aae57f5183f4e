package runtime

import (
	bin "encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
)

// The block codec encodes records for the wire (blocks fetched between
// processes) and, later, for checkpoints. It covers the dynamic values
// manifests use (nil, bool, int64, uint64, float64, string, []byte, []any,
// map[string]any) and the engine's record types (Pair, Optional, Joined,
// Grouped). Encoding is deterministic: map keys are written sorted, so a
// recomputed block encodes to the same bytes.

const (
	tagNil byte = iota
	tagFalse
	tagTrue
	tagInt
	tagUint
	tagFloat
	tagString
	tagBytes
	tagList
	tagMap
	tagPair
	tagOptional
	tagJoined
	tagGrouped
)

// maxDecodeLen bounds any length read from the wire, so that a corrupt or
// hostile block cannot make the decoder allocate without limit.
const maxDecodeLen = 64 << 20

// ErrCorruptBlock is wrapped by every decoding error.
var ErrCorruptBlock = errors.New("corrupt block")

// recordEncoder is implemented by the engine's generic record types.
type recordEncoder interface {
	appendRecord(b []byte) ([]byte, error)
}

// recordDecoder is implemented by pointers to the engine's generic record
// types, so that decoding fills their type parameters.
type recordDecoder interface {
	decodeRecord(d *decoder) error
}

// appendValue appends the encoding of v.
func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, tagNil), nil
	case bool:
		if x {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case int64:
		return bin.AppendVarint(append(b, tagInt), x), nil
	case int:
		return bin.AppendVarint(append(b, tagInt), int64(x)), nil
	case int32:
		return bin.AppendVarint(append(b, tagInt), int64(x)), nil
	case uint64:
		return bin.AppendUvarint(append(b, tagUint), x), nil
	case float64:
		return bin.LittleEndian.AppendUint64(append(b, tagFloat), math.Float64bits(x)), nil
	case string:
		b = bin.AppendUvarint(append(b, tagString), uint64(len(x)))
		return append(b, x...), nil
	case []byte:
		b = bin.AppendUvarint(append(b, tagBytes), uint64(len(x)))
		return append(b, x...), nil
	case []any:
		b = bin.AppendUvarint(append(b, tagList), uint64(len(x)))
		var err error
		for _, e := range x {
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = bin.AppendUvarint(append(b, tagMap), uint64(len(x)))
		var err error
		for _, k := range keys {
			b = bin.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			if b, err = appendValue(b, x[k]); err != nil {
				return nil, err
			}
		}
		return b, nil
	case recordEncoder:
		return x.appendRecord(b)
	}
	// Typed Go graphs carry typed slices ([]int from a groupByKey) and
	// other integer and float widths; they travel as lists and numbers.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		b = bin.AppendUvarint(append(b, tagList), uint64(rv.Len()))
		var err error
		for i := 0; i < rv.Len(); i++ {
			if b, err = appendValue(b, rv.Index(i).Interface()); err != nil {
				return nil, err
			}
		}
		return b, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return bin.AppendVarint(append(b, tagInt), rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return bin.AppendUvarint(append(b, tagUint), rv.Uint()), nil
	case reflect.Float32:
		return bin.LittleEndian.AppendUint64(append(b, tagFloat), math.Float64bits(rv.Float())), nil
	case reflect.String:
		return appendValue(b, rv.String())
	case reflect.Bool:
		return appendValue(b, rv.Bool())
	}
	return nil, fmt.Errorf("a %T cannot be encoded in a block", v)
}

func (p Pair[K, V]) appendRecord(b []byte) ([]byte, error) {
	b, err := appendValue(append(b, tagPair), any(p.Key))
	if err != nil {
		return nil, err
	}
	return appendValue(b, any(p.Value))
}

func (o Optional[T]) appendRecord(b []byte) ([]byte, error) {
	if !o.Ok {
		return append(b, tagOptional, 0), nil
	}
	return appendValue(append(b, tagOptional, 1), any(o.Value))
}

func (j Joined[V, W]) appendRecord(b []byte) ([]byte, error) {
	b, err := appendValue(append(b, tagJoined), any(j.Left))
	if err != nil {
		return nil, err
	}
	return appendValue(b, any(j.Right))
}

func (g Grouped[V, W]) appendRecord(b []byte) ([]byte, error) {
	b = append(b, tagGrouped)
	var err error
	if b, err = appendList(b, g.Left); err != nil {
		return nil, err
	}
	return appendList(b, g.Right)
}

func appendList[T any](b []byte, l []T) ([]byte, error) {
	b = bin.AppendUvarint(append(b, tagList), uint64(len(l)))
	var err error
	for _, e := range l {
		if b, err = appendValue(b, any(e)); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// EncodeRecords encodes a slice of records as one block.
func EncodeRecords[T any](records []T) ([]byte, error) {
	b := bin.AppendUvarint(nil, uint64(len(records)))
	var err error
	for i, r := range records {
		if b, err = appendValue(b, any(r)); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return b, nil
}

// DecodeRecords decodes a block made by EncodeRecords into records of type
// T. A block that is corrupt, truncated or of another type is an error
// wrapping ErrCorruptBlock.
func DecodeRecords[T any](data []byte) ([]T, error) {
	d := &decoder{b: data}
	n, err := d.length()
	if err != nil {
		return nil, err
	}
	// Each record takes at least one byte: a count larger than the rest of
	// the block is corrupt, and must not size an allocation.
	if n > uint64(len(d.b)) {
		return nil, d.fail("%d records cannot fit in %d bytes", n, len(d.b))
	}
	out := make([]T, n)
	for i := range out {
		if err := decodeInto(d, &out[i]); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	if len(d.b) != 0 {
		return nil, d.fail("%d bytes left after the last record", len(d.b))
	}
	return out, nil
}

// decodeInto decodes one value into *dst, through the record types'
// decoders or by asserting a dynamic value to T.
func decodeInto[T any](d *decoder, dst *T) error {
	if rd, ok := any(dst).(recordDecoder); ok {
		return rd.decodeRecord(d)
	}
	v, err := d.value()
	if err != nil {
		return err
	}
	return assign(v, dst)
}

func assign[T any](v any, dst *T) error {
	if v == nil {
		var zero T
		*dst = zero
		return nil
	}
	if t, ok := v.(T); ok {
		*dst = t
		return nil
	}
	// Typed slices and numbers of other widths were sent as lists and
	// int64, uint64 or float64: convert them back.
	if err := assignReflect(v, reflect.ValueOf(dst).Elem()); err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptBlock, err)
	}
	return nil
}

func assignReflect(v any, dst reflect.Value) error {
	if v == nil {
		dst.SetZero()
		return nil
	}
	src := reflect.ValueOf(v)
	switch dst.Kind() {
	case reflect.Interface:
		if src.Type().AssignableTo(dst.Type()) {
			dst.Set(src)
			return nil
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			break
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, e := range list {
			if err := assignReflect(e, out.Index(i)); err != nil {
				return err
			}
		}
		dst.Set(out)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n, ok := v.(int64); ok && !dst.OverflowInt(n) {
			dst.SetInt(n)
			return nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n, ok := v.(uint64); ok && !dst.OverflowUint(n) {
			dst.SetUint(n)
			return nil
		}
	case reflect.Float32, reflect.Float64:
		if f, ok := v.(float64); ok {
			dst.SetFloat(f)
			return nil
		}
	default:
		if src.Type().ConvertibleTo(dst.Type()) && src.Kind() == dst.Kind() {
			dst.Set(src.Convert(dst.Type()))
			return nil
		}
	}
	return fmt.Errorf("a %T where a %s belongs", v, dst.Type())
}

func (p *Pair[K, V]) decodeRecord(d *decoder) error {
	if err := d.expect(tagPair); err != nil {
		return err
	}
	if err := decodeInto(d, &p.Key); err != nil {
		return err
	}
	return decodeInto(d, &p.Value)
}

func (o *Optional[T]) decodeRecord(d *decoder) error {
	if err := d.expect(tagOptional); err != nil {
		return err
	}
	present, err := d.byte()
	if err != nil {
		return err
	}
	if present == 0 {
		*o = Optional[T]{}
		return nil
	}
	o.Ok = true
	return decodeInto(d, &o.Value)
}

func (j *Joined[V, W]) decodeRecord(d *decoder) error {
	if err := d.expect(tagJoined); err != nil {
		return err
	}
	if err := decodeInto(d, &j.Left); err != nil {
		return err
	}
	return decodeInto(d, &j.Right)
}

func (g *Grouped[V, W]) decodeRecord(d *decoder) error {
	if err := d.expect(tagGrouped); err != nil {
		return err
	}
	var err error
	if g.Left, err = decodeList[V](d); err != nil {
		return err
	}
	g.Right, err = decodeList[W](d)
	return err
}

func decodeList[T any](d *decoder) ([]T, error) {
	if err := d.expect(tagList); err != nil {
		return nil, err
	}
	return decodeListBody[T](d)
}

// decodeListBody decodes a list whose tag has been read.
func decodeListBody[T any](d *decoder) ([]T, error) {
	n, err := d.length()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)) {
		return nil, d.fail("a list of %d cannot fit in %d bytes", n, len(d.b))
	}
	out := make([]T, n)
	for i := range out {
		if err := decodeInto(d, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decoder reads values from a block.
type decoder struct {
	b     []byte
	depth int
}

// maxDecodeDepth bounds nesting, so that a hostile block cannot overflow
// the stack.
const maxDecodeDepth = 256

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptBlock, fmt.Sprintf(format, args...))
}

func (d *decoder) byte() (byte, error) {
	if len(d.b) == 0 {
		return 0, d.fail("truncated")
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

func (d *decoder) expect(tag byte) error {
	c, err := d.byte()
	if err != nil {
		return err
	}
	if c != tag {
		return d.fail("tag %d where %d belongs", c, tag)
	}
	return nil
}

func (d *decoder) length() (uint64, error) {
	n, k := bin.Uvarint(d.b)
	if k <= 0 {
		return 0, d.fail("bad length")
	}
	if n > maxDecodeLen {
		return 0, d.fail("length %d exceeds the limit", n)
	}
	d.b = d.b[k:]
	return n, nil
}

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.length()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)) {
		return nil, d.fail("truncated")
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out, nil
}

// value decodes one dynamic value.
func (d *decoder) value() (any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDecodeDepth {
		return nil, d.fail("nested deeper than %d", maxDecodeDepth)
	}
	tag, err := d.byte()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagNil:
		return nil, nil
	case tagFalse:
		return false, nil
	case tagTrue:
		return true, nil
	case tagInt:
		n, k := bin.Varint(d.b)
		if k <= 0 {
			return nil, d.fail("bad int")
		}
		d.b = d.b[k:]
		return n, nil
	case tagUint:
		n, k := bin.Uvarint(d.b)
		if k <= 0 {
			return nil, d.fail("bad uint")
		}
		d.b = d.b[k:]
		return n, nil
	case tagFloat:
		if len(d.b) < 8 {
			return nil, d.fail("truncated float")
		}
		f := math.Float64frombits(bin.LittleEndian.Uint64(d.b))
		d.b = d.b[8:]
		return f, nil
	case tagString:
		b, err := d.bytes()
		return string(b), err
	case tagBytes:
		b, err := d.bytes()
		return append([]byte(nil), b...), err
	case tagList:
		return decodeListBody[any](d)
	case tagMap:
		n, err := d.length()
		if err != nil {
			return nil, err
		}
		if n > uint64(len(d.b)) {
			return nil, d.fail("a map of %d cannot fit in %d bytes", n, len(d.b))
		}
		m := make(map[string]any, n)
		for i := uint64(0); i < n; i++ {
			k, err := d.bytes()
			if err != nil {
				return nil, err
			}
			if m[string(k)], err = d.value(); err != nil {
				return nil, err
			}
		}
		return m, nil
	case tagPair:
		var p Pair[any, any]
		if err := decodeInto(d, &p.Key); err != nil {
			return nil, err
		}
		err := decodeInto(d, &p.Value)
		return p, err
	case tagOptional, tagJoined, tagGrouped:
		return nil, d.fail("a %s value needs its record type", tagName(tag))
	}
	return nil, d.fail("unknown tag %d", tag)
}

func tagName(tag byte) string {
	switch tag {
	case tagOptional:
		return "optional"
	case tagJoined:
		return "joined"
	case tagGrouped:
		return "grouped"
	}
	return fmt.Sprint(tag)
}
