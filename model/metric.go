package model

import (
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/model/tensor"
)

// MetricKind says which scalar function of the logits a Metric is.
type MetricKind int

const (
	// LogProbMetric is log softmax(logits[Row, Pos])[Tokens[0]].
	LogProbMetric MetricKind = iota
	// ProbMetric is softmax(logits[Row, Pos])[Tokens[0]] (knowledge neurons' target).
	ProbMetric
	// LogitMetric is logits[Row, Pos, Tokens[0]].
	LogitMetric
	// LogitDiffMetric is logits[Row, Pos, Tokens[0]] − logits[Row, Pos, Tokens[1]].
	LogitDiffMetric
	// MeanLogProbMetric is the mean over k of log softmax(logits[Row, Pos+k])[Tokens[k]]: the
	// mean log-probability of a continuation whose first token is predicted at Pos.
	MeanLogProbMetric
)

// AllRows as a Metric's Row applies the metric to every batch row and sums the values. Batch
// rows are independent, so the gradient at row r is the gradient of row r's own value: this
// is how the steps of integrated gradients run as one batch.
const AllRows = -1

// Metric is the scalar that Gradient differentiates: a function of the logits of one batch row
// (or of every row, AllRows) at one position (consecutive positions for MeanLogProbMetric).
// Positions index the padded batch and must be real (unmasked) tokens. Build one with LogProb,
// Prob, Logit, LogitDiff, MeanLogProb or EachRow.
type Metric struct {
	Kind     MetricKind
	Row, Pos int
	Tokens   []int
	// PerRow (EachRow) applies the metric to every batch row r with its own token Tokens[r]
	// and sums the values: a batch of prompts, each with its own answer.
	PerRow bool
}

// EachRow is the sum over batch rows r of the metric kind (LogProbMetric, ProbMetric or
// LogitMetric) of token tokens[r] at pos: one answer per prompt of a batch (CULNIG's
// Σ_batch P(y|x), left-padded so pos is every row's last position). len(tokens) must be the
// batch size.
func EachRow(kind MetricKind, pos int, tokens []int) Metric {
	return Metric{Kind: kind, Row: AllRows, Pos: pos, Tokens: append([]int(nil), tokens...), PerRow: true}
}

// LogProb is the log-probability of token at (row, pos).
func LogProb(row, pos, token int) Metric {
	return Metric{Kind: LogProbMetric, Row: row, Pos: pos, Tokens: []int{token}}
}

// Prob is the probability of token at (row, pos).
func Prob(row, pos, token int) Metric {
	return Metric{Kind: ProbMetric, Row: row, Pos: pos, Tokens: []int{token}}
}

// Logit is the logit of token at (row, pos).
func Logit(row, pos, token int) Metric {
	return Metric{Kind: LogitMetric, Row: row, Pos: pos, Tokens: []int{token}}
}

// LogitDiff is the logit of token minus the logit of other at (row, pos).
func LogitDiff(row, pos, token, other int) Metric {
	return Metric{Kind: LogitDiffMetric, Row: row, Pos: pos, Tokens: []int{token, other}}
}

// MeanLogProb is the mean log-probability of the continuation tokens, tokens[k] being read from
// the logits at position pos+k (so pos is the position just before the continuation starts).
func MeanLogProb(row, pos int, tokens []int) Metric {
	return Metric{Kind: MeanLogProbMetric, Row: row, Pos: pos, Tokens: append([]int(nil), tokens...)}
}

// String describes the metric.
func (mt Metric) String() string {
	names := [...]string{"logprob", "prob", "logit", "logit_diff", "mean_logprob"}
	k := "metric?"
	if int(mt.Kind) >= 0 && int(mt.Kind) < len(names) {
		k = names[mt.Kind]
	}
	return fmt.Sprintf("%s(row %d, pos %d, tokens %v)", k, mt.Row, mt.Pos, mt.Tokens)
}

// term is the part of a metric that reads one logits row.
type term struct {
	row    int // flat row batch·pos + position
	kind   MetricKind
	tok    int
	other  int // LogitDiffMetric
	weight float64
}

// terms lists what the metric reads of a batch's logits, or says why it cannot.
func (mt Metric) terms(b Batch, vocab int) ([]term, error) {
	if mt.PerRow {
		return mt.rowTerms(b, vocab)
	}
	npos, ok := 1, false
	switch mt.Kind {
	case LogProbMetric, ProbMetric, LogitMetric:
		ok = len(mt.Tokens) == 1
	case LogitDiffMetric:
		ok = len(mt.Tokens) == 2
	case MeanLogProbMetric:
		npos, ok = len(mt.Tokens), len(mt.Tokens) > 0
	default:
		return nil, fmt.Errorf("unknown metric kind %d", mt.Kind)
	}
	if !ok {
		return nil, fmt.Errorf("%v: wrong number of tokens", mt)
	}
	for _, t := range mt.Tokens {
		if t < 0 || t >= vocab {
			return nil, fmt.Errorf("%v: token %d is outside the vocabulary [0, %d)", mt, t, vocab)
		}
	}
	rows := []int{mt.Row}
	if mt.Row == AllRows {
		rows = rows[:0]
		for i := 0; i < b.Size; i++ {
			rows = append(rows, i)
		}
	}
	var out []term
	for _, r := range rows {
		if r < 0 || r >= b.Size {
			return nil, fmt.Errorf("%v: batch row %d outside [0, %d)", mt, r, b.Size)
		}
		for k := 0; k < npos; k++ {
			pos := mt.Pos + k
			if pos < 0 || pos >= b.Len || !b.Mask[r*b.Len+pos] {
				return nil, fmt.Errorf("%v: position %d of row %d is not a real token of the batch", mt, pos, r)
			}
			t := term{row: r*b.Len + pos, kind: mt.Kind, tok: mt.Tokens[k], weight: 1}
			if mt.Kind == LogitDiffMetric {
				t.other = mt.Tokens[1]
			}
			if mt.Kind == MeanLogProbMetric {
				t.kind, t.weight = LogProbMetric, 1/float64(len(mt.Tokens))
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// rowTerms is terms for a PerRow metric: one term per batch row, each with its own token.
func (mt Metric) rowTerms(b Batch, vocab int) ([]term, error) {
	switch {
	case mt.Kind != LogProbMetric && mt.Kind != ProbMetric && mt.Kind != LogitMetric:
		return nil, fmt.Errorf("%v: a per-row metric is a logprob, prob or logit", mt)
	case mt.Row != AllRows:
		return nil, fmt.Errorf("%v: a per-row metric reads every row (Row = AllRows)", mt)
	case len(mt.Tokens) != b.Size:
		return nil, fmt.Errorf("%v: %d tokens for a batch of %d rows", mt, len(mt.Tokens), b.Size)
	}
	out := make([]term, b.Size)
	for r, tok := range mt.Tokens {
		if tok < 0 || tok >= vocab {
			return nil, fmt.Errorf("%v: token %d of row %d is outside the vocabulary [0, %d)", mt, tok, r, vocab)
		}
		if mt.Pos < 0 || mt.Pos >= b.Len || !b.Mask[r*b.Len+mt.Pos] {
			return nil, fmt.Errorf("%v: position %d of row %d is not a real token of the batch", mt, mt.Pos, r)
		}
		out[r] = term{row: r*b.Len + mt.Pos, kind: mt.Kind, tok: tok, weight: 1}
	}
	return out, nil
}

// eval returns the term's value (times its weight) for its logits row x and, when dx is not
// nil, accumulates the value's gradient into dx.
func (t term) eval(dx, x []float32) float64 {
	switch t.kind {
	case LogitMetric:
		if dx != nil {
			dx[t.tok] += float32(t.weight)
		}
		return t.weight * float64(x[t.tok])
	case LogitDiffMetric:
		if dx != nil {
			dx[t.tok] += float32(t.weight)
			dx[t.other] -= float32(t.weight)
		}
		return t.weight * (float64(x[t.tok]) - float64(x[t.other]))
	}
	lse := logSoftmaxForward(nil, x)
	lp := float64(x[t.tok]) - lse
	g := t.weight // d(w·logp)/d logp
	v := t.weight * lp
	if t.kind == ProbMetric {
		p := math.Exp(lp)
		g, v = t.weight*p, t.weight*p // d(w·p)/d logp = w·p
	}
	if dx != nil {
		logSoftmaxBackward(dx, x, lse, t.tok, g)
	}
	return v
}

// Value evaluates the metric on Forward's logits [batch, pos, d_vocab] for batch b.
func (mt Metric) Value(b Batch, logits *tensor.Tensor) (float64, error) {
	v := logits.Shape[len(logits.Shape)-1]
	ts, err := mt.terms(b, v)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, t := range ts {
		sum += t.eval(nil, logits.Data[t.row*v:(t.row+1)*v])
	}
	return sum, nil
}
