// Package ui serves the operator's view of the bridge: the status page at /
// and the same facts as JSON at /api/v1/groups.
//
// Both read what the last cycle found (bridge.Status) and what each
// remote-write queue reports (remotewrite.QueueStatus); they never scrape or
// judge anything themselves. The page is rendered on the server with
// html/template from embedded files, uses no JavaScript, and loads nothing
// but its own stylesheet and icon, which a Content-Security-Policy header
// enforces.
//
// Both take the same query: every parameter but "sort" and "match" is a
// grouping label that must have the given value (?job=backup&instance=db-7;
// repeated, any of the values; empty, the label must be absent). "match"
// holds the same filter as text (job="backup", instance="db-7"), as the
// page's form sends it; the page redirects it to the plain form so that
// links stay short. "sort" is "status" (problems first, the default), "age"
// (oldest first) or "labels".
package ui

import (
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
)

// StatusSource tells what the last cycle found. Status must be safe for
// concurrent use and return nil before the first cycle; the handler only
// reads what it returns.
type StatusSource interface {
	Status() *bridge.Status
}

// EndpointSource reports one remote-write endpoint. Status must be safe for
// concurrent use; the handler only reads what it returns.
type EndpointSource interface {
	Status() remotewrite.QueueStatus
}

var (
	_ StatusSource   = (*bridge.Bridge)(nil)
	_ EndpointSource = (*remotewrite.Queue)(nil)
)

// Options configure a Handler.
type Options struct {
	// Status is the bridge. Required.
	Status StatusSource
	// Endpoints are the remote-write queues, in configuration order.
	Endpoints []EndpointSource
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now is the clock that "ago" is measured against; time.Now if nil.
	Now func() time.Time
}

// Handler serves the status page, its assets and the groups API.
type Handler struct {
	o    Options
	page *template.Template
}

//go:embed templates/index.html
var templates embed.FS

//go:embed static
var static embed.FS

// New returns a Handler. It panics if the embedded template does not parse,
// which a test catches.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{o: o, page: template.Must(template.ParseFS(templates, "templates/index.html"))}
}

// Register adds the handler's routes to mux: GET /, GET /static/ and
// GET /api/v1/groups.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.servePage)
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /api/v1/groups", h.serveGroups)
}

// contentSecurityPolicy allows the page nothing but its own stylesheet and
// icon: no script, no frame, no other origin.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has(matchParam) {
		// The form's text becomes plain parameters: the link to share.
		target, err := canonical(q)
		if err == nil {
			// Relative, so that it holds behind a proxy that moves the page.
			w.Header().Set("Location", target)
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		p := h.build(nil, sortStatus, q.Get(matchParam))
		p.Error = err.Error()
		h.render(w, http.StatusBadRequest, p)
		return
	}
	f, key, err := parseQuery(q)
	if err != nil {
		p := h.build(nil, sortStatus, "")
		p.Error = err.Error()
		h.render(w, http.StatusBadRequest, p)
		return
	}
	h.render(w, http.StatusOK, h.build(f, key, f.String()))
}

func (h *Handler) render(w http.ResponseWriter, code int, p *page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := h.page.Execute(w, p); err != nil {
		h.o.Logger.Error("render status page", "err", err)
	}
}

func staticHandler() http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fi, err := fs.Stat(static, r.URL.Path[1:]); err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// apiResponse is the Prometheus HTTP API envelope.
type apiResponse struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitzero"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

// apiGroup is one group in /api/v1/groups.
type apiGroup struct {
	Labels         map[string]string `json:"labels"`
	Gateway        string            `json:"gateway,omitempty"`
	Status         string            `json:"status"`
	Up             bool              `json:"up"`
	LastPush       time.Time         `json:"lastPush,omitzero"`
	LastFailedPush time.Time         `json:"lastFailedPush,omitzero"`
	AgeSeconds     *float64          `json:"ageSeconds,omitempty"`
	MaxAgeSeconds  float64           `json:"maxAgeSeconds,omitzero"`
	Series         int               `json:"series"`
	SeriesLimit    int               `json:"seriesLimit,omitempty"`
	DroppedSeries  int               `json:"droppedSeries,omitempty"`
	Rule           string            `json:"rule,omitempty"`
	Expected       bool              `json:"expected"`
	// Pushes is set while the bridge counts pushes (see bridge.GroupStatus).
	Pushes *apiPushes `json:"pushes,omitempty"`
}

// apiPushes is what the bridge counts of a group's pushes and runs.
type apiPushes struct {
	OK     uint64 `json:"ok"`
	Failed uint64 `json:"failed"`
	// Accumulated maps each accumulated family to what the group's runs
	// added to its sums.
	Accumulated map[string]float64 `json:"accumulated,omitempty"`
}

func (h *Handler) serveGroups(w http.ResponseWriter, r *http.Request) {
	f, key, err := parseQuery(r.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiResponse{Status: "error", ErrorType: "bad_data", Error: err.Error()})
		return
	}
	st := h.o.Status.Status()
	if st == nil {
		writeJSON(w, http.StatusServiceUnavailable, apiResponse{Status: "error", ErrorType: "unavailable", Error: "no cycle has run yet"})
		return
	}
	groups := selectGroups(st.Groups, f, key)
	data := make([]apiGroup, 0, len(groups))
	for _, g := range groups {
		a := apiGroup{
			Labels:         g.Labels.Map(),
			Gateway:        g.Gateway,
			Status:         string(g.Status),
			Up:             g.Up,
			LastPush:       utc(g.PushTime),
			LastFailedPush: utc(g.PushFailureTime),
			MaxAgeSeconds:  g.MaxAge.Seconds(),
			Series:         g.Series,
			SeriesLimit:    g.SeriesLimit,
			DroppedSeries:  g.DroppedSeries,
			Rule:           g.Rule,
			Expected:       g.Expected,
		}
		if g.HasAge {
			age := g.Age.Seconds()
			a.AgeSeconds = &age
		}
		if g.PushesKnown {
			a.Pushes = &apiPushes{OK: g.Pushes, Failed: g.FailedPushes}
			for _, t := range g.Accumulated {
				if a.Pushes.Accumulated == nil {
					a.Pushes.Accumulated = map[string]float64{}
				}
				a.Pushes.Accumulated[t.Family] = t.Total
			}
		}
		data = append(data, a)
	}
	writeJSON(w, http.StatusOK, apiResponse{Status: "success", Data: data})
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func writeJSON(w http.ResponseWriter, code int, v apiResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
