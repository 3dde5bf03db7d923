package store

// migrations are applied in order; never edit one that has shipped, append.
// Times are Unix milliseconds.
var migrations = []string{
	// 1: tickets, their outbox, users and sessions, audit log.
	`
CREATE TABLE tickets (
	id             TEXT PRIMARY KEY,
	call_id        TEXT NOT NULL,
	caller         TEXT NOT NULL,
	called         TEXT NOT NULL,
	channel        TEXT NOT NULL,
	category       TEXT NOT NULL DEFAULT '',
	priority       TEXT NOT NULL DEFAULT 'normal',
	ivr_path       TEXT NOT NULL DEFAULT '',
	status         TEXT NOT NULL,
	outcome        TEXT NOT NULL DEFAULT '',
	abandon_stage  TEXT NOT NULL DEFAULT '',
	end_reason     TEXT NOT NULL DEFAULT '',
	seat_id        TEXT NOT NULL DEFAULT '',
	node_id        TEXT NOT NULL,
	opened_at      INTEGER NOT NULL,
	queued_at      INTEGER,
	answered_at    INTEGER,
	ended_at       INTEGER,
	wait_seconds   REAL,
	talk_seconds   REAL,
	summary        TEXT NOT NULL DEFAULT '',
	disposition    TEXT NOT NULL DEFAULT '',
	legal_domain   TEXT NOT NULL DEFAULT '',
	callback       INTEGER NOT NULL DEFAULT 0,
	satisfaction   INTEGER,
	recording      TEXT,
	recording_deleted_at INTEGER,
	revision       INTEGER NOT NULL,
	wo_state       TEXT NOT NULL DEFAULT 'pending',
	wo_attempts    INTEGER NOT NULL DEFAULT 0,
	wo_last_error  TEXT NOT NULL DEFAULT '',
	wo_external_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tickets_caller ON tickets(caller, opened_at);
CREATE INDEX tickets_opened ON tickets(opened_at);
CREATE INDEX tickets_status ON tickets(status, opened_at);
CREATE INDEX tickets_call ON tickets(call_id);

-- one row per ticket revision, written in the same transaction as the
-- revision itself (transactional outbox); body is the exact JSON pushed.
CREATE TABLE outbox (
	ticket_id       TEXT NOT NULL,
	revision        INTEGER NOT NULL,
	event           TEXT NOT NULL,
	body            BLOB NOT NULL,
	created_at      INTEGER NOT NULL,
	state           TEXT NOT NULL DEFAULT 'pending',
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	last_error      TEXT NOT NULL DEFAULT '',
	delivered_at    INTEGER,
	PRIMARY KEY (ticket_id, revision)
);
CREATE INDEX outbox_state ON outbox(state, next_attempt_at);

-- per node and day counter behind the human-readable ticket id.
CREATE TABLE ticket_seq (
	day  TEXT PRIMARY KEY,
	n    INTEGER NOT NULL
);

CREATE TABLE users (
	name       TEXT PRIMARY KEY,
	role       TEXT NOT NULL,
	seat_id    TEXT NOT NULL DEFAULT '',
	pw_hash    TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
	token_hash BLOB PRIMARY KEY,
	user_name  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);

CREATE TABLE audit_log (
	id        INTEGER PRIMARY KEY,
	at        INTEGER NOT NULL,
	user_name TEXT NOT NULL,
	action    TEXT NOT NULL,
	object    TEXT NOT NULL,
	remote    TEXT NOT NULL DEFAULT ''
);
`,
	// 2: what the work-order system reports back about a ticket (SPEC §7);
	// the outbox's delivery bookkeeping index.
	`
CREATE TABLE ticket_feedback (
	id          INTEGER PRIMARY KEY,
	ticket_id   TEXT NOT NULL REFERENCES tickets(id),
	external_id TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL,
	note        TEXT NOT NULL DEFAULT '',
	at          INTEGER NOT NULL,
	received_at INTEGER NOT NULL,
	UNIQUE (ticket_id, external_id, status, at)
);
CREATE INDEX ticket_feedback_ticket ON ticket_feedback(ticket_id, at);
CREATE INDEX outbox_ticket_state ON outbox(ticket_id, state, revision);
`,
	// 3: logins on every node of a cluster (SPEC §11): when a user last
	// changed (the newer copy wins between nodes), and whether a session is
	// known to the shared store and when that was last checked.
	`
ALTER TABLE users ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE users SET updated_at = created_at;
ALTER TABLE sessions ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN checked_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_user ON sessions(user_name, created_at);
`,
	// 4: a feedback report of the work-order system is stored once however
	// often it arrives (a replayed request, a retry without "at"): its
	// dedupe key is a hash of what it says (rows from before have none).
	// Expired sessions are pruned by expires_at.
	`
ALTER TABLE ticket_feedback ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX ticket_feedback_dedupe ON ticket_feedback(ticket_id, dedupe_key);
CREATE INDEX sessions_expires ON sessions(expires_at);
`,
	// 5: a voicemail that could not be recorded (recordings directory not
	// writable) still makes a callback ticket, marked so; the storage
	// health probe's table.
	`
ALTER TABLE tickets ADD COLUMN recording_failed INTEGER NOT NULL DEFAULT 0;
-- the storage health probe's one row: a write every second shows the
-- database takes writes (internal/store Probe).
CREATE TABLE storage_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
`,
	// 6: what was done to the live call from the console (hold, resume,
	// mute, dtmf, hangup): the ticket's history, JSON ("" while empty).
	`
ALTER TABLE tickets ADD COLUMN history TEXT NOT NULL DEFAULT '';
`,
	// 7: the legs a call was transferred to (issue 11), a JSON list
	// (ticket.Transfer); '' for tickets from before.
	`
ALTER TABLE tickets ADD COLUMN transfers TEXT NOT NULL DEFAULT '';
`,
	// 8: the callback worklist (SPEC §9a): one task per ticket and reason
	// (voicemail, abandoned, dissatisfied), created in the transaction of
	// the revision that calls for it; its history of calls and results.
	`
CREATE TABLE callbacks (
	id          INTEGER PRIMARY KEY,
	ticket_id   TEXT NOT NULL REFERENCES tickets(id),
	reason      TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	due_at      INTEGER NOT NULL,
	state       TEXT NOT NULL DEFAULT 'open',
	assigned_to TEXT NOT NULL DEFAULT '',
	attempts    INTEGER NOT NULL DEFAULT 0,
	last_result TEXT NOT NULL DEFAULT '',
	closed_at   INTEGER,
	UNIQUE (ticket_id, reason)
);
CREATE INDEX callbacks_state ON callbacks(state, due_at);
CREATE TABLE callback_history (
	id           INTEGER PRIMARY KEY,
	callback_id  INTEGER NOT NULL REFERENCES callbacks(id),
	at           INTEGER NOT NULL,
	user_name    TEXT NOT NULL,
	kind         TEXT NOT NULL,
	result       TEXT NOT NULL DEFAULT '',
	retry_at     INTEGER,
	talk_seconds REAL,
	recording    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX callback_history_task ON callback_history(callback_id, at);
`,
}
