package main

// The messages this client sends and reads, written from docs/asyncapi.yaml
// (components/schemas). Only the fields the client uses are declared; readers
// ignore the others, as the contract asks of event consumers (a newer release
// only adds optional fields).

import (
	"crypto/rand"
	"fmt"
)

// Topic names: the document's channel addresses, `<prefix>.<name>`.
const (
	commandsTopic = "schedule.commands"
	eventsTopic   = "schedule.events"
	statusTopic   = "delivery.status"
)

// ReportRef is a standard report by id (kind "standard" is the default).
type ReportRef struct {
	Kind string `json:"kind,omitempty"`
	ID   string `json:"id"`
}

// ScheduleSpec is the full state of a schedule. Left out: filters, weekday, cron,
// window, time_of_day (08:00), timezone (the tenant's or the server's default),
// enabled (true), skip_if_empty (false), catch_up_seconds (one period).
type ScheduleSpec struct {
	Name       string    `json:"name"`
	Report     ReportRef `json:"report"`
	Frequency  string    `json:"frequency"` // daily | weekly | monthly | custom
	Recipients []string  `json:"recipients"`
	Format     string    `json:"format,omitempty"` // pdf (default) | csv | html
}

// Envelope is what every command carries. event_id, occurred_at and
// schema_version are left for Herald to default.
type Envelope struct {
	Type       string `json:"type"`
	TenantID   string `json:"tenant_id"`
	ScheduleID string `json:"schedule_id"`
	CommandID  string `json:"command_id"`
}

// CreateSchedule creates a schedule under the envelope's schedule_id.
type CreateSchedule struct {
	Envelope
	Spec ScheduleSpec `json:"spec"`
}

// RunNow fires one run of the schedule now.
type RunNow struct {
	Envelope
}

// FieldError is one field-level reason of a rejection (or a warning).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

// ScheduleEvent is any message on schedule.events, told apart by Type:
// CommandAccepted, CommandRejected, ScheduleChanged, TenantSettingsChanged.
// Only the fields of the two replies are declared.
type ScheduleEvent struct {
	Type        string       `json:"type"`
	TenantID    string       `json:"tenant_id"`
	ScheduleID  string       `json:"schedule_id"`
	CommandID   *string      `json:"command_id"`
	CommandType string       `json:"command_type"`
	Version     *int         `json:"version"`
	NextRunAt   *string      `json:"next_run_at"`
	RunID       *string      `json:"run_id"`
	Warnings    []FieldError `json:"warnings"`
	Errors      []FieldError `json:"errors"`
}

// RecipientResult is one recipient's outcome in a DeliveryStatus.
type RecipientResult struct {
	Address     string  `json:"address"`
	Outcome     string  `json:"outcome"` // accepted | refused_permanent | refused_transient
	SMTPCode    *int    `json:"smtp_code"`
	SMTPMessage *string `json:"smtp_message"`
}

// DeliveryStatus is one transition of a run, on delivery.status.
type DeliveryStatus struct {
	Type          string            `json:"type"`
	OccurredAt    string            `json:"occurred_at"`
	TenantID      string            `json:"tenant_id"`
	ScheduleID    string            `json:"schedule_id"`
	RunID         string            `json:"run_id"`
	Attempt       int               `json:"attempt"`
	Status        string            `json:"status"`
	Stage         string            `json:"stage"`
	Reason        *string           `json:"reason"`
	ArtifactID    *string           `json:"artifact_id"`
	NextAttemptAt *string           `json:"next_attempt_at"`
	Recipients    []RecipientResult `json:"recipients"`
}

// final says whether a run status ends the run (the document's RunStatus values).
func final(status string) bool {
	switch status {
	case "delivered", "failed", "skipped", "skipped_empty":
		return true
	}
	return false
}

// newUUID returns a random (version 4) UUID: every command's command_id.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
