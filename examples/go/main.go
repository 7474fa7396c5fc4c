// Command herald-client creates a Herald schedule, runs it now and waits until
// the run is delivered, speaking only the contract of docs/asyncapi.yaml over
// Kafka (franz-go).
//
// On success it prints one line of JSON on stdout and exits 0. A rejected
// command, a run that ends other than delivered, or the timeout exit non-zero
// with the reason on stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Exit codes.
const (
	exitFailed    = 1 // a command rejected, or the run failed or was skipped
	exitUsage     = 2
	exitTimeout   = 3
	exitTransport = 4 // Kafka unreachable, a topic missing
)

type config struct {
	brokers    string
	prefix     string
	tenant     string
	scheduleID string
	recipient  string
	report     string
	format     string
	name       string
	timeout    time.Duration
}

// failure is an error with the exit code it ends the program with.
type failure struct {
	code int
	msg  string
}

func (f *failure) Error() string { return f.msg }

func fail(code int, format string, args ...any) error {
	return &failure{code, fmt.Sprintf(format, args...)}
}

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-client:", err)
		os.Exit(exitUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	summary, err := run(ctx, cfg)
	if err != nil {
		var f *failure
		code := exitTransport
		switch {
		case errors.As(err, &f):
			code = f.code
		case errors.Is(err, context.DeadlineExceeded):
			code = exitTimeout
			err = fmt.Errorf("timed out after %s: %w", cfg.timeout, err)
		}
		fmt.Fprintln(os.Stderr, "herald-client:", err)
		os.Exit(code)
	}
	line, _ := json.Marshal(summary)
	fmt.Println(string(line))
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func parseConfig(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("herald-client", flag.ContinueOnError)
	fs.StringVar(&cfg.brokers, "brokers", env("HERALD_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092"), "Kafka bootstrap servers, comma-separated (env HERALD_KAFKA__BOOTSTRAP_SERVERS)")
	fs.StringVar(&cfg.prefix, "prefix", env("HERALD_KAFKA__TOPIC_PREFIX", "herald"), "topic prefix: topics are <prefix>.<name> (env HERALD_KAFKA__TOPIC_PREFIX)")
	fs.StringVar(&cfg.tenant, "tenant", env("HERALD_CLIENT_TENANT", ""), "tenant id (required; env HERALD_CLIENT_TENANT)")
	fs.StringVar(&cfg.scheduleID, "schedule-id", env("HERALD_CLIENT_SCHEDULE_ID", ""), "schedule id, within the tenant (required; env HERALD_CLIENT_SCHEDULE_ID)")
	fs.StringVar(&cfg.recipient, "recipient", env("HERALD_CLIENT_RECIPIENT", ""), "email address to deliver to (required; env HERALD_CLIENT_RECIPIENT)")
	fs.StringVar(&cfg.report, "report", env("HERALD_CLIENT_REPORT", "campaign_summary"), "standard report id (env HERALD_CLIENT_REPORT)")
	fs.StringVar(&cfg.format, "format", env("HERALD_CLIENT_FORMAT", "csv"), "pdf, csv or html (env HERALD_CLIENT_FORMAT)")
	fs.StringVar(&cfg.name, "name", env("HERALD_CLIENT_NAME", "Go client example"), "schedule name (env HERALD_CLIENT_NAME)")
	timeout := env("HERALD_CLIENT_TIMEOUT", "2m")
	fs.StringVar(&timeout, "timeout", timeout, "give up after this long, e.g. 90s (env HERALD_CLIENT_TIMEOUT)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var missing []string
	for _, f := range []struct{ flag, value string }{
		{"-tenant", cfg.tenant}, {"-schedule-id", cfg.scheduleID}, {"-recipient", cfg.recipient},
	} {
		if f.value == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return cfg, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	d, err := time.ParseDuration(timeout)
	if err != nil || d <= 0 {
		return cfg, fmt.Errorf("bad -timeout %q: want a positive duration such as 90s", timeout)
	}
	cfg.timeout = d
	return cfg, nil
}

// Summary is the one line printed on success.
type Summary struct {
	TenantID        string   `json:"tenant_id"`
	ScheduleID      string   `json:"schedule_id"`
	CreateCommandID string   `json:"create_command_id"`
	Version         *int     `json:"version"`
	NextRunAt       *string  `json:"next_run_at"`
	RunNowCommandID string   `json:"run_now_command_id"`
	RunID           string   `json:"run_id"`
	Status          string   `json:"status"`
	Attempt         int      `json:"attempt"`
	Recipients      []string `json:"recipients"`
	DeliveredAt     string   `json:"delivered_at"`
	ElapsedMillis   int64    `json:"elapsed_ms"`
	ArtifactID      *string  `json:"artifact_id,omitempty"`
}

func run(ctx context.Context, cfg config) (*Summary, error) {
	started := time.Now()
	topic := func(name string) string { return cfg.prefix + "." + name }

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(cfg.brokers, ",")...),
		kgo.ClientID("herald-go-client"),
		// franz-go's defaults are what the contract needs: acks=all with idempotence,
		// a partitioner that hashes the key like Kafka's Java client, and snappy
		// batches (Herald reads gzip, snappy, lz4 and zstd).
	)
	if err != nil {
		return nil, fail(exitTransport, "kafka client: %v", err)
	}
	defer cl.Close()

	// Read the replies from the current end of both topics, fixed BEFORE anything is
	// sent: no reply can be missed, and no earlier one is read.
	w, err := newWatcher(ctx, cl, topic(eventsTopic), topic(statusTopic), cfg.tenant, cfg.scheduleID)
	if err != nil {
		return nil, err
	}

	s := &Summary{TenantID: cfg.tenant, ScheduleID: cfg.scheduleID}

	create := CreateSchedule{
		Envelope: Envelope{Type: "CreateSchedule", TenantID: cfg.tenant, ScheduleID: cfg.scheduleID, CommandID: newUUID()},
		Spec: ScheduleSpec{
			Name:       cfg.name,
			Report:     ReportRef{Kind: "standard", ID: cfg.report},
			Frequency:  "daily",
			Recipients: []string{cfg.recipient},
			Format:     cfg.format,
		},
	}
	s.CreateCommandID = create.CommandID
	accepted, err := send(ctx, cl, w, topic(commandsTopic), create.Envelope, create)
	if err != nil {
		return nil, err
	}
	s.Version, s.NextRunAt = accepted.Version, accepted.NextRunAt
	logf("schedule %s created (version %s, next run at %s)", cfg.scheduleID, deref(accepted.Version), deref(accepted.NextRunAt))

	runNow := RunNow{Envelope{Type: "RunNow", TenantID: cfg.tenant, ScheduleID: cfg.scheduleID, CommandID: newUUID()}}
	s.RunNowCommandID = runNow.CommandID
	accepted, err = send(ctx, cl, w, topic(commandsTopic), runNow.Envelope, runNow)
	if err != nil {
		return nil, err
	}
	if accepted.RunID == nil || *accepted.RunID == "" {
		return nil, fail(exitFailed, "RunNow accepted without a run_id")
	}
	s.RunID = *accepted.RunID
	logf("run %s started", s.RunID)

	done, err := w.delivery(ctx, s.RunID)
	if err != nil {
		return nil, err
	}
	s.Status, s.Attempt, s.DeliveredAt, s.ArtifactID = done.Status, done.Attempt, done.OccurredAt, done.ArtifactID
	s.Recipients = []string{}
	for _, r := range done.Recipients {
		if r.Outcome == "accepted" {
			s.Recipients = append(s.Recipients, r.Address)
		}
	}
	s.ElapsedMillis = time.Since(started).Milliseconds()
	return s, nil
}

// send produces one command, keyed by its schedule_id, and waits for its reply.
func send(ctx context.Context, cl *kgo.Client, w *watcher, topic string, env Envelope, command any) (*ScheduleEvent, error) {
	value, err := json.Marshal(command)
	if err != nil {
		return nil, err
	}
	record := &kgo.Record{
		Topic:   topic,
		Key:     []byte(env.ScheduleID), // the contract: a command's key is its schedule_id
		Value:   value,
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}},
	}
	w.awaited[strings.ToLower(env.CommandID)] = true
	if err := cl.ProduceSync(ctx, record).FirstErr(); err != nil {
		return nil, fmt.Errorf("sending %s: %w", env.Type, err)
	}
	logf("sent %s %s", env.Type, env.CommandID)
	reply, err := w.reply(ctx, env.CommandID)
	if err != nil {
		return nil, fmt.Errorf("waiting for the reply to %s %s: %w", env.Type, env.CommandID, err)
	}
	for _, warning := range reply.Warnings {
		logf("warning on %s: %s: %s (%s)", env.Type, warning.Field, warning.Message, warning.Code)
	}
	if reply.Type == "CommandRejected" {
		lines := []string{fmt.Sprintf("%s %s rejected:", env.Type, env.CommandID)}
		for _, e := range reply.Errors {
			lines = append(lines, fmt.Sprintf("  %s: %s (%s)", e.Field, e.Message, e.Code))
		}
		return nil, fail(exitFailed, "%s", strings.Join(lines, "\n"))
	}
	return reply, nil
}

// watcher reads schedule.events and delivery.status from fixed offsets. Statuses
// read while waiting for a reply are kept, so none is lost before its run_id is known.
type watcher struct {
	cl                 *kgo.Client
	events, status     string
	tenant, scheduleID string
	awaited            map[string]bool           // command ids sent, not yet answered
	replies            map[string]*ScheduleEvent // by command id
	statuses           []DeliveryStatus          // of this tenant's schedule
}

func newWatcher(ctx context.Context, cl *kgo.Client, events, status, tenant, scheduleID string) (*watcher, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, events, status)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("listing the end offsets of %s and %s (is Kafka reachable?): %w", events, status, err)
		}
		return nil, fail(exitTransport, "listing the end offsets of %s and %s (do the topics exist, is the prefix right?): %v", events, status, err)
	}
	at := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if at[o.Topic] == nil {
			at[o.Topic] = map[int32]kgo.Offset{}
		}
		at[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	for _, t := range []string{events, status} {
		if len(at[t]) == 0 {
			return nil, fail(exitTransport, "topic %s has no partitions: does it exist?", t)
		}
	}
	cl.AddConsumePartitions(at)
	return &watcher{
		cl: cl, events: events, status: status, tenant: tenant, scheduleID: scheduleID,
		awaited: map[string]bool{}, replies: map[string]*ScheduleEvent{},
	}, nil
}

// poll reads the next batch and files what it holds.
func (w *watcher) poll(ctx context.Context) error {
	fetches := w.cl.PollFetches(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	var fatal error
	fetches.EachError(func(topic string, partition int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			logf("fetch error on %s/%d: %v", topic, partition, err)
		}
		if errors.Is(err, kgo.ErrClientClosed) {
			fatal = err
		}
	})
	if fatal != nil {
		return fatal
	}
	fetches.EachRecord(func(r *kgo.Record) {
		switch r.Topic {
		case w.events:
			var e ScheduleEvent
			if json.Unmarshal(r.Value, &e) != nil || e.CommandID == nil {
				return
			}
			id := strings.ToLower(*e.CommandID)
			if (e.Type == "CommandAccepted" || e.Type == "CommandRejected") && w.awaited[id] {
				delete(w.awaited, id)
				w.replies[id] = &e
			}
		case w.status:
			var st DeliveryStatus
			if json.Unmarshal(r.Value, &st) == nil && st.Type == "DeliveryStatus" &&
				st.TenantID == w.tenant && st.ScheduleID == w.scheduleID {
				w.statuses = append(w.statuses, st)
			}
		}
	})
	return nil
}

// reply waits for the CommandAccepted or CommandRejected whose command_id is commandID.
func (w *watcher) reply(ctx context.Context, commandID string) (*ScheduleEvent, error) {
	id := strings.ToLower(commandID)
	for {
		if e, ok := w.replies[id]; ok {
			delete(w.replies, id)
			return e, nil
		}
		if err := w.poll(ctx); err != nil {
			return nil, err
		}
	}
}

// delivery waits for the run's final status: delivered, or an error for the others.
func (w *watcher) delivery(ctx context.Context, runID string) (*DeliveryStatus, error) {
	seen := 0
	for {
		for ; seen < len(w.statuses); seen++ {
			st := w.statuses[seen]
			if st.RunID != runID {
				continue
			}
			logf("run %s: %s (attempt %d, %s)", runID, st.Status, st.Attempt, st.Stage)
			if st.Status == "delivered" {
				return &st, nil
			}
			if final(st.Status) {
				msg := fmt.Sprintf("run %s ended %s at the %s (attempt %d)", runID, st.Status, st.Stage, st.Attempt)
				if st.Reason != nil {
					msg += ": " + *st.Reason
				}
				for _, r := range st.Recipients {
					if r.Outcome != "accepted" {
						msg += fmt.Sprintf("\n  %s: %s %s %s", r.Address, r.Outcome, deref(r.SMTPCode), deref(r.SMTPMessage))
					}
				}
				return nil, fail(exitFailed, "%s", msg)
			}
		}
		if err := w.poll(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("waiting for run %s to be delivered: %w", runID, err)
			}
			return nil, err
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func deref[T any](p *T) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}
