package safetensors

import (
	"bytes"
	"testing"

	st "github.com/nlpodyssey/safetensors"
)

func FuzzLibRaw(f *testing.F) {
	var buf bytes.Buffer
	Write(&buf, []WriteTensor{F32("a", []int{2, 3}, make([]float32, 6)), BF16("b", []int{3}, make([]float32, 3)), I64("c", nil, []int64{1})}, map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:20])
	f.Add([]byte("\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551615,0],\"data_offsets\":[0,0]}}     "))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := st.Deserialize(data)
		if err != nil {
			return
		}
		for _, v := range s.Tensors() {
			_ = v.TensorView.Data()
		}
	})
}
