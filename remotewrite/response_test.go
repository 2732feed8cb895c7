package remotewrite

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

func TestCheckV2Response(t *testing.T) {
	// 10 samples, 3 of them histograms: 7 floats.
	sent := encodeStats{samples: 10, histograms: 3, highestT: 5}
	for _, tc := range []struct {
		name    string
		header  []string // name, value pairs, added in order
		st      encodeStats
		wantErr error  // matched with errors.Is; nil means no error
		partial []int  // missing float samples and histograms, for a *partialWriteError
		msg     string // substring of the error message
	}{
		{
			name:    "no headers: a 1.0 receiver ignoring Content-Type",
			wantErr: errV2NotSupported,
		},
		{
			name:    "no headers, other headers set",
			header:  []string{"Content-Type", "text/plain", "X-Prometheus-Remote-Write-Version", "2.0.0"},
			wantErr: errV2NotSupported,
		},
		{
			name:    "no headers for an empty request",
			st:      encodeStats{highestT: minInt64},
			wantErr: errV2NotSupported,
		},
		{
			name:   "all written",
			header: []string{headerSamplesWritten, "7", headerHistogramsWritten, "3", headerExemplarsWritten, "0"},
		},
		{
			name:   "header names are case-insensitive",
			header: []string{"x-prometheus-remote-write-samples-written", "7", "X-PROMETHEUS-REMOTE-WRITE-HISTOGRAMS-WRITTEN", "3"},
		},
		{
			name:   "spaces around the value",
			header: []string{headerSamplesWritten, " 7 ", headerHistogramsWritten, "3"},
		},
		{
			name:   "more written than sent: histograms counted as samples too",
			header: []string{headerSamplesWritten, "10", headerHistogramsWritten, "3"},
		},
		{
			name:   "only floats sent, histogram and exemplar headers missing",
			header: []string{headerSamplesWritten, "7"},
			st:     encodeStats{samples: 7},
		},
		{
			name:    "some floats not written",
			header:  []string{headerSamplesWritten, "5", headerHistogramsWritten, "3", headerExemplarsWritten, "0"},
			partial: []int{2, 0},
			msg:     "wrote 5 of 7 float samples and 3 of 3 histograms",
		},
		{
			name:    "some floats and histograms not written",
			header:  []string{headerSamplesWritten, "6", headerHistogramsWritten, "1"},
			partial: []int{1, 2},
			msg:     "wrote 6 of 7 float samples and 1 of 3 histograms",
		},
		{
			name:    "missing histogram header counts as none written",
			header:  []string{headerSamplesWritten, "7"},
			partial: []int{0, 3},
		},
		{
			name:    "only the exemplar header: nothing written",
			header:  []string{headerExemplarsWritten, "0"},
			partial: []int{7, 3},
		},
		{
			name:    "all zero",
			header:  []string{headerSamplesWritten, "0", headerHistogramsWritten, "0", headerExemplarsWritten, "0"},
			partial: []int{7, 3},
		},
		{
			name:    "unparsable samples header",
			header:  []string{headerSamplesWritten, "seven", headerHistogramsWritten, "3"},
			wantErr: errBadWrittenHeader,
			msg:     `X-Prometheus-Remote-Write-Samples-Written "seven"`,
		},
		{
			name:    "negative count",
			header:  []string{headerSamplesWritten, "7", headerHistogramsWritten, "-1"},
			wantErr: errBadWrittenHeader,
			msg:     "negative count",
		},
		{
			name:    "empty value",
			header:  []string{headerSamplesWritten, "", headerHistogramsWritten, "3"},
			wantErr: errBadWrittenHeader,
		},
		{
			name:    "beyond 64 bits",
			header:  []string{headerSamplesWritten, "7", headerExemplarsWritten, "99999999999999999999"},
			wantErr: errBadWrittenHeader,
			msg:     "value out of range",
		},
		{
			name:    "unparsable wins over partial",
			header:  []string{headerSamplesWritten, "1", headerHistogramsWritten, "x"},
			wantErr: errBadWrittenHeader,
		},
		{
			name:   "repeated header: first value counts",
			header: []string{headerSamplesWritten, "7", headerSamplesWritten, "1", headerHistogramsWritten, "3"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for i := 0; i+1 < len(tc.header); i += 2 {
				h.Add(tc.header[i], tc.header[i+1])
			}
			st := tc.st
			if st == (encodeStats{}) {
				st = sent
			}
			err := checkV2Response(h, st)

			var pw *partialWriteError
			switch {
			case tc.partial != nil:
				if !errors.As(err, &pw) {
					t.Fatalf("error = %v, want a *partialWriteError", err)
				}
				if pw.samples != tc.partial[0] || pw.histograms != tc.partial[1] {
					t.Errorf("partial write of %d samples and %d histograms missing, want %d and %d",
						pw.samples, pw.histograms, tc.partial[0], tc.partial[1])
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				if errors.As(err, &pw) {
					t.Errorf("error %v is also a partial write", err)
				}
			case err != nil:
				t.Fatalf("error = %v, want nil", err)
			}
			if tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)) {
				t.Errorf("error = %v, want it to contain %q", err, tc.msg)
			}
		})
	}
}

func TestIsUnsupportedMediaType(t *testing.T) {
	for code, want := range map[int]bool{
		http.StatusUnsupportedMediaType: true,
		http.StatusBadRequest:           false,
		http.StatusOK:                   false,
		http.StatusNoContent:            false,
		http.StatusNotAcceptable:        false,
		http.StatusInternalServerError:  false,
	} {
		if got := isUnsupportedMediaType(code); got != want {
			t.Errorf("isUnsupportedMediaType(%d) = %v, want %v", code, got, want)
		}
	}
}

// TestExemplarsWritten sends a counter's exemplar in 2.0 to a receiver that
// writes it, then to one that writes its sample but not its exemplar: the
// sample counts as sent either way, the unwritten exemplar is counted.
func TestExemplarsWritten(t *testing.T) {
	for _, tc := range []struct {
		name          string
		resp          response
		wantUnwritten float64
	}{
		{"written", status(http.StatusNoContent), 0},
		{"not written", status(http.StatusNoContent, headerExemplarsWritten, "0"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.setFallback(tc.resp)
			rc.setWritten(true)
			o := testOptions(t, rc)
			o.Message, o.SendExemplars = MessageV2, true
			q := mustQueue(t, o)
			run(t, q)
			ex := []exemplar.Exemplar{{Labels: labels.FromStrings("trace_id", "abc"), Value: 1, Ts: 900, HasTs: true}}
			q.Append(pipeline.SampleSlice{{Labels: labels.FromStrings("__name__", "jobs_total"), T: 1000, V: 1, Extra: &pipeline.Extra{Exemplars: ex}}})
			waitFor(t, "sample sent", func() bool { return testutil.ToFloat64(q.m.samplesSent) == 1 })
			if got := testutil.ToFloat64(q.m.exemplarsUnwritten); got != tc.wantUnwritten {
				t.Errorf("exemplars_unwritten_total = %g, want %g", got, tc.wantUnwritten)
			}
			if n := len(rc.deliveredGot()[0].v2.Timeseries[0].Exemplars); n != 1 {
				t.Errorf("request held %d exemplars, want 1", n)
			}
		})
	}
}
