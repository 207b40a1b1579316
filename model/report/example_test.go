package report_test

import (
	"os"

	"github.com/neuronscope/neuronscope/model/report"
)

// Every neuronscope report is JSON written by WriteJSON (to a file: WriteJSONFile, atomically).
func Example() {
	type result struct {
		SchemaVersion string  `json:"schema_version"`
		Accuracy      float64 `json:"accuracy"`
	}
	_ = report.WriteJSON(os.Stdout, result{SchemaVersion: "example/v1", Accuracy: 0.99})
	// Output:
	// {
	//   "schema_version": "example/v1",
	//   "accuracy": 0.99
	// }
}
