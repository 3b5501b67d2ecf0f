package main

import (
	"os/exec"
	"regexp"
	"strconv"
)

// category is a slice of a CPU profile: the samples with a frame matching re
// (inclusive time, so categories overlap).
type category struct{ name, re string }

var categories = []category{
	{"fold callback, all of it (eventfold `entityRuntime.fold` / goka `main.fold`)", `processor\.\(\*entityRuntime\)\.fold$|^main\.fold$`},
	{"event decode (`codec.Union.Decode`)", `codec\.\(\*Union\[.*\]\)\.Decode`},
	{"state JSON decode+encode", `codec\.JSON\[.*\]\.(Decode|Encode)|main\.orderCodec\.(Decode|Encode)`},
	{"`orders.Evolve`", `orders\.Evolve$`},
	{"encoding/json (all)", `^encoding/json\.`},
	{"envelope encode/decode", `processor\.\(\*Envelope\)\.(Marshal|Unmarshal)Binary`},
	{"history index", `processor\.\(\*entityRuntime\)\.index$`},
	{"dead letters (emit + log)", `processor\.\(\*entityRuntime\)\.deadLetter$`},
	{"log/slog", `^log/slog\.`},
	{"Prometheus", `prometheus`},
	{"ordered commits + progress", `processor\.(orderedHandler|\(\*orderedHandler\)|\(\*offsetTracker\)|\(\*orderedSession\)|\(\*progress\))`},
	{"goka `ctx.SetValue` (LevelDB put + changelog emit)", `goka\.\(\*cbContext\)\.SetValue$`},
	{"goka `ctx.Value` (LevelDB get)", `goka\.\(\*cbContext\)\.Value$`},
	{"LevelDB (goleveldb)", `goleveldb`},
	{"sarama (fetch, decode, produce, commit)", `IBM/sarama`},
	{"GC (background mark)", `runtime\.gcBgMarkWorker$`},
	{"allocation (`mallocgc`)", `runtime\.mallocgc$`},
	{"syscalls", `syscall\.(Syscall|RawSyscall|Syscall6)|internal/runtime/syscall`},
}

// profileShares is, per category, the share of the profile's samples.
type profileShares struct {
	Key    string
	Label  string
	Total  float64 // seconds of CPU sampled
	Shares map[string]float64
	CPUPer float64 // µs of CPU per event, whole fold
	Rate   float64
	G      goroutineSample
}

var showingRE = regexp.MustCompile(`Showing nodes accounting for ([0-9.]+)(m?s|h|min), ([0-9.]+)% of ([0-9.]+)(m?s|h|min) total`)

func secs(v, unit string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "ms":
		return f / 1000
	case "min":
		return f * 60
	case "h":
		return f * 3600
	}
	return f
}

// pprofFocus returns the share of samples with a frame matching re.
func pprofFocus(file, re string) (share, total float64, ok bool) {
	args := []string{"tool", "pprof", "-top", "-nodecount=1000000"}
	if re != "" {
		args = append(args, "-focus="+re)
	}
	out, err := exec.Command("go", append(args, file)...).CombinedOutput()
	if err != nil {
		return 0, 0, false
	}
	m := showingRE.FindSubmatch(out)
	if m == nil {
		return 0, 0, true // nothing matched the focus
	}
	share, _ = strconv.ParseFloat(string(m[3]), 64)
	return share / 100, secs(string(m[4]), string(m[5])), true
}

func analyseProfiles(folds []foldResult) []profileShares {
	var out []profileShares
	for _, f := range folds {
		if len(f.Profiles) == 0 || f.Nodes != 1 {
			continue
		}
		p := profileShares{Key: f.Key, Label: f.Label, Shares: map[string]float64{}, Rate: f.Rate, G: f.Goroutines}
		if f.Handled > 0 {
			p.CPUPer = f.CPU.Seconds() * 1e6 / float64(f.Handled)
		}
		_, total, ok := pprofFocus(f.Profiles[0], "")
		if !ok {
			continue
		}
		p.Total = total
		for _, c := range categories {
			if s, _, ok := pprofFocus(f.Profiles[0], c.re); ok {
				p.Shares[c.name] = s
			}
		}
		out = append(out, p)
	}
	return out
}
