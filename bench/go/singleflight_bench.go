// Command singleflight_bench times Go's golang.org/x/sync/singleflight on the shapes that sf-bench
// times for the C++ implementations, and prints the results as Google Benchmark JSON, so that
// scripts/bench_report.py reads both alike. bench/run builds and runs it right after sf-bench.
//
// Build offline with Debian's packages (golang-go, golang-golang-x-sync-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o singleflight-go-bench bench/go/singleflight_bench.go
//
// Shapes, named as sf-bench names them with the implementation "go":
//
//	distinct_noop/go/real_time/threads:N        N goroutines, each calling Do on keys no other call
//	                                            uses, with a fn that returns at once (N = 1, 2, 8)
//	hot_key/go/fn_ns:D/real_time/threads:N      N goroutines calling Do on one key, fn busy-waits D ns
//	                                            (D = 0, 1000, 100000; N = 2 .. 64)
//	hot_key_async/go/fn_ns:D/callers:N/real_time
//	                                            sf-bench's hot_key_async: N goroutines calling Do on
//	                                            one key, fn returns at once (D = 0) or sleeps D ns
//	                                            (time.Sleep: the goroutine parks on a runtime timer
//	                                            and holds no thread, as the C++ loader waits on its
//	                                            loop's timer); D = 0, 1000, 100000; N = 64, 1024,
//	                                            16384. Reports calls_per_flight (calls over fn's
//	                                            runs) and loader_ns_mean (how long fn's sleeps really
//	                                            took: Go 1.19's scheduler, idle, waits for a timer
//	                                            in epoll_wait with a 1 ms resolution).
//
// What a timing includes: wall-clock time from releasing all goroutines to the last one's
// finishing its n calls; items_per_second is all calls of all goroutines over that time, and
// real_time is its inverse (ns per call, aggregated), as Google Benchmark reports a threaded run.
// Keys are strings, as Go's API requires; each goroutine cycles through 4096 preformatted keys
// (a key comes back only after its previous flight ended), so no formatting is timed. GOMAXPROCS
// is 1 for one goroutine (one core, as one C++ thread gets) and the number of CPUs otherwise;
// each result records it. A run repeats until it lasts -min_time, like Google Benchmark's
// calibration, and that run is repetition 0 of -reps.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/singleflight"
)

type result struct {
	Name            string  `json:"name"`
	RunName         string  `json:"run_name"`
	RunType         string  `json:"run_type"`
	Repetitions     int     `json:"repetitions"`
	RepetitionIndex int     `json:"repetition_index"`
	Threads         int     `json:"threads"`
	AggregateName   string  `json:"aggregate_name,omitempty"`
	Iterations      int64   `json:"iterations"`
	RealTime        float64 `json:"real_time"`
	CPUTime         float64 `json:"cpu_time"`
	TimeUnit        string  `json:"time_unit"`
	ItemsPerSecond  float64 `json:"items_per_second"`
	Gomaxprocs      int     `json:"gomaxprocs"`
	CallsPerFlight  float64 `json:"calls_per_flight,omitempty"`
	LoaderNsMean    float64 `json:"loader_ns_mean,omitempty"`
}

// flightCounts counts fn's runs in a shape that reports them, and the time its sleeps took.
type flightCounts struct {
	runs, sleptNs atomic.Int64
}

type shape struct {
	name       string
	goroutines int
	// body runs n calls in goroutine gi on group g.
	body func(g *singleflight.Group, gi int, n int64)
	// counts, if not nil, is reset before each measured run and reported after it.
	counts *flightCounts
}

const keysPerGoroutine = 4096

var (
	minTime = flag.Float64("min_time", 0.2, "seconds each measured run lasts at least")
	reps    = flag.Int("reps", 5, "repetitions of each shape")
	out     = flag.String("out", "", "write the JSON here (default: standard output)")
	filter  = flag.String("filter", ".", "run only shapes whose name matches this regular expression")
	procs   = flag.Int("procs", 0, "GOMAXPROCS for shapes with more than one goroutine (0: the number of CPUs)")
)

// busyFor keeps the core busy for d, as the C++ benchmark's fn does.
func busyFor(d time.Duration) {
	if d <= 0 {
		return
	}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
	}
}

func noop() (interface{}, error) { return nil, nil }

func distinctKeys(goroutines int) [][]string {
	keys := make([][]string, goroutines)
	for gi := range keys {
		keys[gi] = make([]string, keysPerGoroutine)
		for j := range keys[gi] {
			keys[gi][j] = fmt.Sprintf("k%d-%d", gi, j)
		}
	}
	return keys
}

// hotKey is the body of the hot-key shapes: n calls of Do on one key with fn.
func hotKey(fn func() (interface{}, error)) func(g *singleflight.Group, gi int, n int64) {
	return func(g *singleflight.Group, _ int, n int64) {
		for i := int64(0); i < n; i++ {
			if _, err, _ := g.Do("hot", fn); err != nil {
				panic(err)
			}
		}
	}
}

func shapes() []shape {
	var s []shape
	for _, n := range []int{1, 2, 8} {
		keys := distinctKeys(n)
		s = append(s, shape{
			name:       fmt.Sprintf("distinct_noop/go/real_time/threads:%d", n),
			goroutines: n,
			body: func(g *singleflight.Group, gi int, iters int64) {
				mine := keys[gi]
				for i := int64(0); i < iters; i++ {
					v, err, _ := g.Do(mine[i&(keysPerGoroutine-1)], noop)
					if err != nil || v != nil {
						panic("unexpected outcome")
					}
				}
			},
		})
	}
	for _, fnNs := range []int{0, 1000, 100000} {
		d := time.Duration(fnNs)
		for n := 2; n <= 64; n *= 2 {
			s = append(s, shape{
				name:       fmt.Sprintf("hot_key/go/fn_ns:%d/real_time/threads:%d", fnNs, n),
				goroutines: n,
				body:       hotKey(func() (interface{}, error) { busyFor(d); return nil, nil }),
			})
		}
	}
	for _, fnNs := range []int{0, 1000, 100000} {
		d := time.Duration(fnNs)
		for _, n := range []int{64, 1024, 16384} {
			counts := &flightCounts{}
			fn := func() (interface{}, error) {
				counts.runs.Add(1)
				if d > 0 {
					t0 := time.Now()
					time.Sleep(d)
					counts.sleptNs.Add(int64(time.Since(t0)))
				}
				return nil, nil
			}
			s = append(s, shape{
				name:       fmt.Sprintf("hot_key_async/go/fn_ns:%d/callers:%d/real_time", fnNs, n),
				goroutines: n,
				body:       hotKey(fn),
				counts:     counts,
			})
		}
	}
	return s
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs n calls in each goroutine of a fresh group, all released together, and returns
// the wall-clock and process CPU time from the release to the last goroutine's end.
func measure(sh shape, n int64) (wall, cpu time.Duration) {
	if sh.counts != nil {
		sh.counts.runs.Store(0)
		sh.counts.sleptNs.Store(0)
	}
	var g singleflight.Group
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(sh.goroutines)
	done.Add(sh.goroutines)
	for gi := 0; gi < sh.goroutines; gi++ {
		go func(gi int) {
			defer done.Done()
			ready.Done()
			<-start
			sh.body(&g, gi, n)
		}(gi)
	}
	ready.Wait()
	c0 := cpuTime()
	t0 := time.Now()
	close(start)
	done.Wait()
	return time.Since(t0), cpuTime() - c0
}

func entry(sh shape, n int64, wall, cpu time.Duration, rep int, gomaxprocs int) result {
	calls := float64(n) * float64(sh.goroutines)
	r := result{
		Name: sh.name, RunName: sh.name, RunType: "iteration",
		Repetitions: *reps, RepetitionIndex: rep, Threads: sh.goroutines,
		Iterations: n * int64(sh.goroutines),
		RealTime:   float64(wall.Nanoseconds()) / calls,
		CPUTime:    float64(cpu.Nanoseconds()) / calls,
		TimeUnit:   "ns", ItemsPerSecond: calls / wall.Seconds(), Gomaxprocs: gomaxprocs,
	}
	if sh.counts != nil {
		if runs := sh.counts.runs.Load(); runs > 0 {
			r.CallsPerFlight = calls / float64(runs)
			r.LoaderNsMean = float64(sh.counts.sleptNs.Load()) / float64(runs)
		}
	}
	return r
}

func aggregates(runs []result) []result {
	if len(runs) < 2 {
		return nil
	}
	pick := func(f func(r result) float64) []float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return v
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	median := func(v []float64) float64 {
		w := append([]float64(nil), v...)
		sort.Float64s(w)
		if len(w)%2 == 1 {
			return w[len(w)/2]
		}
		return (w[len(w)/2-1] + w[len(w)/2]) / 2
	}
	stddev := func(v []float64) float64 {
		m, s := mean(v), 0.0
		for _, x := range v {
			s += (x - m) * (x - m)
		}
		return math.Sqrt(s / float64(len(v)-1))
	}
	rt := pick(func(r result) float64 { return r.RealTime })
	cpu := pick(func(r result) float64 { return r.CPUTime })
	ips := pick(func(r result) float64 { return r.ItemsPerSecond })
	var agg []result
	for _, a := range []struct {
		name string
		f    func([]float64) float64
	}{{"mean", mean}, {"median", median}, {"stddev", stddev}} {
		r := runs[0]
		r.Name = r.RunName + "_" + a.name
		r.RunType, r.AggregateName, r.RepetitionIndex = "aggregate", a.name, 0
		r.RealTime, r.CPUTime, r.ItemsPerSecond = a.f(rt), a.f(cpu), a.f(ips)
		agg = append(agg, r)
	}
	return agg
}

func run(sh shape) []result {
	gomaxprocs := 1
	if sh.goroutines > 1 {
		gomaxprocs = runtime.NumCPU()
		if *procs > 0 {
			gomaxprocs = *procs
		}
	}
	runtime.GOMAXPROCS(gomaxprocs)
	runtime.GC()
	target := time.Duration(*minTime * float64(time.Second))

	// Calibrate: grow n until a run lasts target; that run is repetition 0.
	n := int64(1)
	var wall, cpu time.Duration
	for {
		wall, cpu = measure(sh, n)
		if wall >= target || n >= 1_000_000_000 {
			break
		}
		mult := 10.0
		if wall > 0 {
			mult = math.Min(10, 1.4*float64(target)/float64(wall))
		}
		n = int64(math.Max(float64(n)+1, math.Ceil(float64(n)*mult)))
	}
	runs := []result{entry(sh, n, wall, cpu, 0, gomaxprocs)}
	for rep := 1; rep < *reps; rep++ {
		runtime.GC()
		wall, cpu = measure(sh, n)
		runs = append(runs, entry(sh, n, wall, cpu, rep, gomaxprocs))
	}
	for _, r := range runs {
		fmt.Fprintf(os.Stderr, "%-48s %10.1f ns %12d calls  items_per_second=%.4gM/s  GOMAXPROCS=%d\n",
			r.Name, r.RealTime, r.Iterations, r.ItemsPerSecond/1e6, r.Gomaxprocs)
	}
	return append(runs, aggregates(runs)...)
}

func main() {
	flag.Parse()
	re, err := regexp.Compile(*filter)
	if err != nil {
		fmt.Fprintln(os.Stderr, "singleflight_bench: -filter:", err)
		os.Exit(2)
	}
	host, _ := os.Hostname()
	doc := struct {
		Context    map[string]interface{} `json:"context"`
		Benchmarks []result               `json:"benchmarks"`
	}{
		Context: map[string]interface{}{
			"date":       time.Now().Format(time.RFC3339),
			"host_name":  host,
			"executable": os.Args[0],
			"num_cpus":   runtime.NumCPU(),
			"go_version": runtime.Version(),
			"library":    "golang.org/x/sync/singleflight",
			"min_time":   *minTime,
			"reps":       *reps,
		},
		Benchmarks: []result{},
	}
	for _, sh := range shapes() {
		if re.MatchString(sh.name) {
			doc.Benchmarks = append(doc.Benchmarks, run(sh)...)
		}
	}
	w := os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "singleflight_bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		fmt.Fprintln(os.Stderr, "singleflight_bench:", err)
		os.Exit(1)
	}
}
