// SPDX-License-Identifier: MIT
//
// pprof-validate: parse pprof files with github.com/google/pprof/profile (Parse runs CheckValid:
// value counts, nonzero unique ids, every reference resolved) and, with -pyprof, also check the
// shape pyprof's writer promises (include/pyprof/pprof.h). With -gen FILE it instead writes a
// profile encoded by Go's own encoder, with inlined lines, sparse ids, a mapping, an unsymbolised
// location and labels, for pyprof's reader tests (tests/golden/pprof/go-foreign.pb.gz).
//
// Builds offline in GOPATH mode against Debian's golang-github-google-pprof-dev:
//
//	GO111MODULE=off GOPROXY=off GOPATH=$tmp:/usr/share/gocode GOCACHE=$tmp/cache \
//	    go build -o $tmp/pprof-validate ./tests/formats/pprof-validate
//
// Prints "ok: FILE: ..." per valid file, "error: FILE: why" otherwise; exit 1 on any error.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/google/pprof/profile"
)

func fail(format string, a ...interface{}) error {
	return fmt.Errorf(format, a...)
}

// checkPyprof checks the conventions of pp_pprof_write() beyond what CheckValid covers.
func checkPyprof(p *profile.Profile) error {
	if len(p.SampleType) != 2 {
		return fail("want 2 sample types, got %d", len(p.SampleType))
	}
	st0, st1 := p.SampleType[0], p.SampleType[1]
	if st0.Type != "samples" || st0.Unit != "count" {
		return fail("sample_type[0] = %s/%s, want samples/count", st0.Type, st0.Unit)
	}
	if (st1.Type != "cpu" && st1.Type != "wall") || st1.Unit != "nanoseconds" {
		return fail("sample_type[1] = %s/%s, want cpu|wall/nanoseconds", st1.Type, st1.Unit)
	}
	if p.PeriodType == nil || p.PeriodType.Type != st1.Type || p.PeriodType.Unit != st1.Unit {
		return fail("period_type %v does not match sample_type[1]", p.PeriodType)
	}
	if p.Period <= 0 {
		return fail("period %d <= 0", p.Period)
	}
	if p.TimeNanos < 0 || p.DurationNanos < 0 {
		return fail("negative time_nanos or duration_nanos")
	}
	if len(p.Mapping) != 0 {
		return fail("unexpected mappings: %d", len(p.Mapping))
	}
	type fkey struct{ name, file string }
	type lkey struct {
		fn   uint64
		line int64
	}
	funcs := map[fkey]bool{}
	minLine := map[uint64]int64{}
	for i, f := range p.Function {
		if f.ID != uint64(i+1) {
			return fail("function %d has id %d, want dense ids from 1", i, f.ID)
		}
		k := fkey{f.Name, f.Filename}
		if funcs[k] {
			return fail("duplicate function (%q, %q)", f.Name, f.Filename)
		}
		funcs[k] = true
		if f.SystemName != "" {
			return fail("function %d: unexpected system_name %q", f.ID, f.SystemName)
		}
	}
	locs := map[lkey]bool{}
	for i, l := range p.Location {
		if l.ID != uint64(i+1) {
			return fail("location %d has id %d, want dense ids from 1", i, l.ID)
		}
		if l.Mapping != nil || l.Address != 0 || l.IsFolded {
			return fail("location %d: unexpected mapping/address/is_folded", l.ID)
		}
		if len(l.Line) != 1 {
			return fail("location %d has %d lines, want 1", l.ID, len(l.Line))
		}
		ln := l.Line[0]
		k := lkey{ln.Function.ID, ln.Line}
		if locs[k] {
			return fail("duplicate location (function %d, line %d)", k.fn, k.line)
		}
		locs[k] = true
		if ln.Line < 0 {
			return fail("location %d: negative line", l.ID)
		}
		if m, ok := minLine[k.fn]; ln.Line != 0 && (!ok || m == 0 || ln.Line < m) {
			minLine[k.fn] = ln.Line
		} else if !ok {
			minLine[k.fn] = 0
		}
	}
	for _, f := range p.Function {
		m, ok := minLine[f.ID]
		if !ok {
			return fail("function %d is not used by any location", f.ID)
		}
		if f.StartLine != m {
			return fail("function %d: start_line %d, want smallest line %d", f.ID, f.StartLine, m)
		}
	}
	used := map[uint64]bool{}
	for i, s := range p.Sample {
		if s.Value[0] < 0 || s.Value[1] != s.Value[0]*p.Period {
			return fail("sample %d: values %v, want [n, n*%d]", i, s.Value, p.Period)
		}
		for _, l := range s.Location {
			used[l.ID] = true
		}
		for k, v := range s.Label {
			if k != "thread_name" || len(v) != 1 || v[0] == "" {
				return fail("sample %d: unexpected string label %s=%v", i, k, v)
			}
		}
		for k, v := range s.NumLabel {
			if k != "thread_id" || len(v) != 1 {
				return fail("sample %d: unexpected num label %s=%v", i, k, v)
			}
		}
		if len(s.NumUnit) != 0 {
			return fail("sample %d: unexpected num_unit", i)
		}
	}
	for _, l := range p.Location {
		if !used[l.ID] {
			return fail("location %d is not used by any sample", l.ID)
		}
	}
	return nil
}

// gen writes the foreign reader fixture: see the package comment.
func gen(path string) error {
	mapping := &profile.Mapping{ID: 3, Start: 0x400000, Limit: 0x800000,
		File: "/usr/bin/python3.11", HasFunctions: true}
	fMain := &profile.Function{ID: 10, Name: "main", Filename: "app.py", StartLine: 1}
	fHelper := &profile.Function{ID: 20, Name: "helper", Filename: "app.py", StartLine: 5}
	fInl := &profile.Function{ID: 30, Name: "inlined_fn", Filename: "/usr/lib/python3.11/json/x.py"}
	fSys := &profile.Function{ID: 40, SystemName: "_PyEval_EvalFrameDefault", Filename: "ceval.c"}
	lMain := &profile.Location{ID: 100, Line: []profile.Line{{Function: fMain, Line: 3}}}
	// Inlined: helper (line 6) calls inlined_fn (line 7); the last line is the caller.
	lInl := &profile.Location{ID: 205, Line: []profile.Line{
		{Function: fInl, Line: 7}, {Function: fHelper, Line: 6}}}
	lAddr := &profile.Location{ID: 300, Mapping: mapping, Address: 0x401234}
	lSys := &profile.Location{ID: 7, Mapping: mapping, Address: 0x402000,
		Line: []profile.Line{{Function: fSys, Line: 1000}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"},
			{Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        4000000,
		TimeNanos:     1700000000123456789,
		DurationNanos: 2500000000,
		Mapping:       []*profile.Mapping{mapping},
		Function:      []*profile.Function{fMain, fHelper, fInl, fSys},
		Location:      []*profile.Location{lMain, lInl, lAddr, lSys},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lInl, lMain}, Value: []int64{5, 20000000},
				Label:    map[string][]string{"thread_name": {"MainThread"}},
				NumLabel: map[string][]int64{"thread_id": {42}}},
			{Location: []*profile.Location{lAddr, lSys, lMain}, Value: []int64{2, 8000000}},
			{Location: []*profile.Location{lMain}, Value: []int64{1, 4000000},
				NumLabel: map[string][]int64{"thread_id": {43}}},
			{Location: []*profile.Location{lMain}, Value: []int64{4, 16000000},
				Label: map[string][]string{"thread_name": {"worker"}, "other": {"x"}}},
			{Location: []*profile.Location{lMain}, Value: []int64{3, 12000000},
				NumLabel: map[string][]int64{"thread_id": {42}},
				Label:    map[string][]string{"thread_name": {"MainThread"}}},
		},
		Comments: []string{"written by tests/formats/pprof-validate -gen"},
	}
	if err := p.CheckValid(); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func main() {
	strict := flag.Bool("pyprof", false, "also check pyprof's writer conventions")
	genPath := flag.String("gen", "", "write the foreign reader fixture to this file and exit")
	flag.Parse()
	if *genPath != "" {
		if err := gen(*genPath); err != nil {
			fmt.Printf("error: gen: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: pprof-validate [-pyprof] FILE... | -gen FILE")
		os.Exit(64)
	}
	rc := 0
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			fmt.Printf("error: %s: %v\n", path, err)
			rc = 1
			continue
		}
		p, err := profile.Parse(f)
		f.Close()
		if err == nil {
			err = p.CheckValid() // Parse already did; kept explicit
		}
		if err == nil && *strict {
			err = checkPyprof(p)
		}
		if err != nil {
			fmt.Printf("error: %s: %v\n", path, err)
			rc = 1
			continue
		}
		var n, v int64
		for _, s := range p.Sample {
			n += s.Value[0]
			if len(s.Value) > 1 {
				v += s.Value[1]
			}
		}
		fmt.Printf("ok: %s: %d samples, %d locations, %d functions, %d mappings, total %d / %d\n",
			path, len(p.Sample), len(p.Location), len(p.Function), len(p.Mapping), n, v)
	}
	os.Exit(rc)
}
