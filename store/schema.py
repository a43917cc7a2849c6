"""Provides the versioned schema migrations of the dutydesk database.

Each migration is a function that takes the connection inside the migration transaction; the
version reached is kept in ``PRAGMA user_version``. Migrations are only ever appended: an
existing one is never edited once it has shipped, so every database upgrades along one path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run a multi-statement script inside the caller's transaction.

    ``Connection.executescript`` commits any open transaction first, which would make a
    migration half-applied on failure; this runs the statements one by one instead.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement.strip()[:60]}")


def _m1_core(conn: sqlite3.Connection) -> None:
    """Cases, their hash-chained timeline/audit log, tasks, counters, shift handovers."""
    _run_script(
        conn,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            category TEXT NOT NULL,
            type TEXT NOT NULL,
            severity INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 4),
            urgency TEXT NOT NULL,
            stage TEXT NOT NULL,
            location TEXT NOT NULL DEFAULT '',
            lat REAL CHECK (lat IS NULL OR lat BETWEEN -90 AND 90),
            lon REAL CHECK (lon IS NULL OR lon BETWEEN -180 AND 180),
            grid TEXT,
            reporter_name TEXT,
            reporter_phone TEXT,
            source TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',
            assignee TEXT,
            reported_at TEXT NOT NULL,
            stage_since TEXT NOT NULL,
            deadline TEXT,
            active INTEGER NOT NULL DEFAULT 1,
            parked INTEGER NOT NULL DEFAULT 0,
            supervised INTEGER NOT NULL DEFAULT 0,
            overdue_since TEXT,
            remind_at TEXT,
            reminders INTEGER NOT NULL DEFAULT 0,
            extensions INTEGER NOT NULL DEFAULT 0,
            merged_into INTEGER REFERENCES incidents(id),
            updated_at TEXT NOT NULL,
            closed_at TEXT
        );
        CREATE INDEX incidents_queue ON incidents(active, deadline, id);
        CREATE INDEX incidents_stage ON incidents(stage, deadline, id);
        CREATE INDEX incidents_grid ON incidents(grid, active, deadline, id);
        CREATE INDEX incidents_all ON incidents(coalesce(deadline, '~'), id);
        CREATE INDEX incidents_unnoted ON incidents(deadline)
            WHERE active = 1 AND overdue_since IS NULL;
        CREATE INDEX incidents_remind ON incidents(remind_at) WHERE remind_at IS NOT NULL;
        CREATE INDEX incidents_supervised ON incidents(id) WHERE supervised = 1;
        CREATE INDEX incidents_parked ON incidents(id) WHERE parked = 1;
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            operator TEXT NOT NULL,
            incident_id INTEGER REFERENCES incidents(id),
            kind TEXT NOT NULL,
            stage_from TEXT,
            stage_to TEXT,
            data TEXT NOT NULL DEFAULT '{}',
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX events_incident ON events(incident_id, id);
        CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_id INTEGER NOT NULL,
            last_hash TEXT NOT NULL
        );
        CREATE TABLE tasks (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            title TEXT NOT NULL,
            owner TEXT,
            due TEXT,
            created_at TEXT NOT NULL,
            done_at TEXT,
            done_by TEXT
        );
        CREATE INDEX tasks_open ON tasks(done_at, due);
        CREATE INDEX tasks_incident ON tasks(incident_id);
        CREATE TABLE extensions (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            seq INTEGER NOT NULL,
            requested_by TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            reason TEXT NOT NULL,
            new_deadline TEXT NOT NULL,
            approvals_needed INTEGER NOT NULL,
            approvals TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT 'pending',
            decided_at TEXT
        );
        CREATE INDEX extensions_incident ON extensions(incident_id, status);
        CREATE TABLE handovers (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            from_operator TEXT NOT NULL,
            to_operator TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            open_cases INTEGER NOT NULL,
            overdue_cases INTEGER NOT NULL,
            supervised_cases INTEGER NOT NULL
        );
        """,
    )


def _m2_search_and_lease(conn: sqlite3.Connection) -> None:
    """Full-text search over cases and notes (segmented for Chinese), and the engine lease."""
    _run_script(
        conn,
        """
        CREATE VIRTUAL TABLE incident_fts USING fts5(
            title, description, location, notes,
            tokenize = 'unicode61 remove_diacritics 2'
        );
        INSERT INTO incident_fts(rowid, title, description, location, notes)
            SELECT id, dd_seg(title), dd_seg(description), dd_seg(location), '' FROM incidents;
        CREATE TRIGGER incidents_fts_insert AFTER INSERT ON incidents BEGIN
            INSERT INTO incident_fts(rowid, title, description, location, notes)
            VALUES (new.id, dd_seg(new.title), dd_seg(new.description), dd_seg(new.location), '');
        END;
        CREATE TRIGGER incidents_fts_update AFTER UPDATE OF title, description, location
            ON incidents BEGIN
            UPDATE incident_fts SET title = dd_seg(new.title),
                description = dd_seg(new.description), location = dd_seg(new.location)
            WHERE rowid = new.id;
        END;
        CREATE TRIGGER incidents_fts_delete AFTER DELETE ON incidents BEGIN
            DELETE FROM incident_fts WHERE rowid = old.id;
        END;
        CREATE TRIGGER notes_fts_insert AFTER INSERT ON events
            WHEN new.kind = 'note' AND new.incident_id IS NOT NULL BEGIN
            UPDATE incident_fts
            SET notes = notes || ' ' || dd_seg(json_extract(new.data, '$.text'))
            WHERE rowid = new.incident_id;
        END;
        UPDATE incident_fts SET notes = coalesce((
            SELECT group_concat(dd_seg(json_extract(e.data, '$.text')), ' ')
            FROM events e WHERE e.incident_id = incident_fts.rowid AND e.kind = 'note'), '');
        CREATE TABLE engine_lease (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            holder TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        """,
    )


def _m3_jurisdiction(conn: sqlite3.Connection) -> None:
    """The jurisdiction tree (units, grid addresses) and incidents pointing at a grid unit.

    Cases of earlier versions carry a plain grid code: each distinct code becomes a grid unit
    (no parent yet, valid from its first case) and the cases point at it, so an upgraded
    database keeps every reference. ``incidents.grid`` stays as the displayed code, kept in
    step with ``grid_id`` by the code that sets it.
    """
    _run_script(
        conn,
        """
        CREATE TABLE units (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            level TEXT NOT NULL
                CHECK (level IN ('city', 'county', 'township', 'community', 'grid')),
            parent_id INTEGER REFERENCES units(id),
            households INTEGER CHECK (households IS NULL OR households >= 0),
            population INTEGER CHECK (population IS NULL OR population >= 0),
            boundary TEXT,
            valid_from TEXT NOT NULL,
            valid_to TEXT,
            successor TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX units_parent ON units(parent_id, valid_to);
        CREATE INDEX units_level ON units(level, valid_to);
        CREATE TABLE unit_addresses (
            id INTEGER PRIMARY KEY,
            unit_id INTEGER NOT NULL REFERENCES units(id),
            address TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_to TEXT
        );
        CREATE INDEX unit_addresses_current ON unit_addresses(address) WHERE valid_to IS NULL;
        CREATE INDEX unit_addresses_unit ON unit_addresses(unit_id, valid_to);
        ALTER TABLE incidents ADD COLUMN grid_id INTEGER REFERENCES units(id);
        CREATE INDEX incidents_grid_id ON incidents(grid_id, active, deadline, id);
        INSERT INTO units (code, name, level, valid_from, created_at, updated_at)
            SELECT grid, grid, 'grid', min(reported_at),
                strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
            FROM incidents WHERE grid IS NOT NULL GROUP BY grid;
        UPDATE incidents SET grid_id = (SELECT u.id FROM units u WHERE u.code = incidents.grid)
            WHERE grid IS NOT NULL;
        """,
    )


def _m4_people(conn: sqlite3.Connection) -> None:
    """People of the jurisdiction, their roles and channels, and emergency teams.

    ``people.key`` is the stable key imports upsert by (an ID column of the office's sheet,
    else the E.164 phone); ``phone`` is stored in E.164 and unique among people.
    """
    _run_script(
        conn,
        """
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            unit_id INTEGER REFERENCES units(id),
            phone TEXT UNIQUE,
            email TEXT,
            webhook TEXT,
            skills TEXT NOT NULL DEFAULT '[]',
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX people_unit ON people(unit_id, active);
        CREATE INDEX people_name ON people(name);
        CREATE TABLE person_roles (
            person_id INTEGER NOT NULL REFERENCES people(id),
            role TEXT NOT NULL,
            PRIMARY KEY (person_id, role)
        ) WITHOUT ROWID;
        CREATE INDEX person_roles_role ON person_roles(role, person_id);
        CREATE TABLE channels (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id),
            kind TEXT NOT NULL CHECK (kind IN ('sms', 'webhook', 'email')),
            address TEXT NOT NULL,
            rank INTEGER NOT NULL,
            verified INTEGER NOT NULL DEFAULT 0,
            UNIQUE (person_id, kind, address)
        );
        CREATE INDEX channels_person ON channels(person_id, rank);
        CREATE TABLE teams (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            unit_id INTEGER REFERENCES units(id),
            leader_id INTEGER REFERENCES people(id),
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE team_members (
            team_id INTEGER NOT NULL REFERENCES teams(id),
            person_id INTEGER NOT NULL REFERENCES people(id),
            PRIMARY KEY (team_id, person_id)
        ) WITHOUT ROWID;
        CREATE INDEX team_members_person ON team_members(person_id);
        """,
    )


def _m5_roster(conn: sqlite3.Connection) -> None:
    """The duty roster: posts, the rotations that fill them, and overrides of a rotation.

    A rotation's shifts are local wall-clock times in its ``zone`` (``starts_on`` a date,
    ``shift_start`` ``HH:MM``); overrides are absolute UTC intervals. ``people`` is a JSON list
    of person ids in rotation order.
    """
    _run_script(
        conn,
        """
        CREATE TABLE posts (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE rotations (
            id INTEGER PRIMARY KEY,
            post_id INTEGER NOT NULL REFERENCES posts(id),
            name TEXT NOT NULL DEFAULT '',
            zone TEXT NOT NULL,
            starts_on TEXT NOT NULL,
            shift_start TEXT NOT NULL,
            shift_hours REAL NOT NULL CHECK (shift_hours > 0),
            every_days INTEGER NOT NULL DEFAULT 1 CHECK (every_days >= 1),
            people TEXT NOT NULL,
            valid_to TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX rotations_post ON rotations(post_id, starts_on);
        CREATE TABLE roster_overrides (
            id INTEGER PRIMARY KEY,
            post_id INTEGER NOT NULL REFERENCES posts(id),
            person_id INTEGER NOT NULL REFERENCES people(id),
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL CHECK (ends_at > starts_at),
            reason TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX roster_overrides_post ON roster_overrides(post_id, ends_at, starts_at);
        """,
    )


def _m6_trees(conn: sqlite3.Connection) -> None:
    """Contact trees (call trees): named trees of nodes, each a person, a post or a role.

    ``ref`` is a person key, a post code or ``ROLE@UNIT`` / ``ROLE@TEAM``; ``alternates`` is a
    JSON list of textual refs (``person:KEY``, ``post:CODE``, ``role:ROLE@UNIT``) tried in order.
    """
    _run_script(
        conn,
        """
        CREATE TABLE tree_nodes (
            id INTEGER PRIMARY KEY,
            tree TEXT NOT NULL,
            code TEXT NOT NULL,
            parent_id INTEGER REFERENCES tree_nodes(id),
            kind TEXT NOT NULL CHECK (kind IN ('person', 'post', 'role')),
            ref TEXT NOT NULL,
            label TEXT NOT NULL,
            alternates TEXT NOT NULL DEFAULT '[]',
            timeout_s INTEGER NOT NULL CHECK (timeout_s > 0),
            repeats INTEGER NOT NULL CHECK (repeats >= 0),
            position INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (tree, code)
        );
        CREATE INDEX tree_nodes_children ON tree_nodes(tree, parent_id, position);
        """,
    )


def _m7_mobilizations(conn: sqlite3.Connection) -> None:
    """Mobilizations: their node snapshot, recipients, every send attempt, the per-person throttle.

    Every pending send, timeout and escalation is a row here, so an engine that dies loses
    nothing: ``recipients.due_at`` says when the engine must act on a recipient next (send, or
    time it out), ``attempts`` in state ``pending`` are sends whose outcome is unknown and are
    re-sent with the same id (the gateway's idempotency key); their channel, address and text
    are fixed when they are first claimed for sending. ``live`` marks ack codes that can
    still be answered; a code is unique among live recipients.
    """
    _run_script(
        conn,
        """
        CREATE TABLE mobilizations (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER REFERENCES incidents(id),
            tree TEXT NOT NULL,
            targets TEXT NOT NULL,
            message TEXT NOT NULL,
            mode TEXT NOT NULL CHECK (mode IN ('cascade', 'broadcast')),
            need INTEGER CHECK (need IS NULL OR need > 0),
            exercise INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('active', 'completed', 'cancelled')),
            interval_s INTEGER NOT NULL,
            expires_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX mobilizations_state ON mobilizations(state, id);
        CREATE INDEX mobilizations_incident ON mobilizations(incident_id);
        CREATE TABLE mob_nodes (
            id INTEGER PRIMARY KEY,
            mobilization_id INTEGER NOT NULL REFERENCES mobilizations(id),
            code TEXT NOT NULL,
            parent_id INTEGER REFERENCES mob_nodes(id),
            level INTEGER NOT NULL,
            position INTEGER NOT NULL,
            label TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL,
            alternates TEXT NOT NULL,
            timeout_s INTEGER NOT NULL,
            repeats INTEGER NOT NULL,
            grp TEXT,
            state TEXT NOT NULL CHECK (state IN
                ('waiting', 'active', 'yes', 'unreachable', 'stood_down', 'cancelled')),
            tier INTEGER NOT NULL DEFAULT 0,
            released_at TEXT,
            settled_at TEXT,
            UNIQUE (mobilization_id, code)
        );
        CREATE INDEX mob_nodes_parent ON mob_nodes(parent_id, position);
        CREATE INDEX mob_nodes_group ON mob_nodes(mobilization_id, grp);
        CREATE TABLE recipients (
            id INTEGER PRIMARY KEY,
            mobilization_id INTEGER NOT NULL REFERENCES mobilizations(id),
            person_id INTEGER NOT NULL REFERENCES people(id),
            name TEXT NOT NULL,
            ack_code TEXT NOT NULL,
            live INTEGER NOT NULL DEFAULT 1,
            state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'yes', 'no', 'no_answer',
                'escalated', 'unreachable', 'stood_down', 'cancelled')),
            sends INTEGER NOT NULL DEFAULT 0,
            repeats INTEGER NOT NULL,
            timeout_s INTEGER NOT NULL,
            due_at TEXT,
            first_sent_at TEXT,
            last_sent_at TEXT,
            answered_at TEXT,
            answer_via TEXT,
            eta_min INTEGER,
            error TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (mobilization_id, person_id)
        );
        CREATE UNIQUE INDEX recipients_code ON recipients(ack_code) WHERE live = 1;
        CREATE INDEX recipients_due ON recipients(due_at) WHERE due_at IS NOT NULL;
        CREATE INDEX recipients_state ON recipients(mobilization_id, state);
        CREATE INDEX recipients_person ON recipients(person_id, live);
        CREATE TABLE mob_links (
            node_id INTEGER NOT NULL REFERENCES mob_nodes(id),
            recipient_id INTEGER NOT NULL REFERENCES recipients(id),
            tier INTEGER NOT NULL,
            PRIMARY KEY (node_id, recipient_id)
        ) WITHOUT ROWID;
        CREATE INDEX mob_links_recipient ON mob_links(recipient_id, node_id);
        CREATE TABLE attempts (
            id TEXT PRIMARY KEY,
            recipient_id INTEGER NOT NULL REFERENCES recipients(id),
            kind TEXT NOT NULL CHECK (kind IN ('notify', 'stand_down', 'cancel', 'notice')),
            round INTEGER NOT NULL,
            channel TEXT,
            address TEXT,
            text TEXT,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'withdrawn')),
            created_at TEXT NOT NULL,
            not_before TEXT NOT NULL,
            done_at TEXT,
            error TEXT
        );
        CREATE INDEX attempts_pending ON attempts(not_before) WHERE state = 'pending';
        CREATE INDEX attempts_recipient ON attempts(recipient_id);
        CREATE TABLE person_sends (
            person_id INTEGER PRIMARY KEY REFERENCES people(id),
            last_at TEXT NOT NULL
        );
        """,
    )


def _m8_handover_confirm(conn: sqlite3.Connection) -> None:
    """Shift handovers confirmed by the incoming officer, with what was pending at handover.

    ``pending_json`` holds the brief's summary when the shift was handed over (the parked and
    pending-extension counts, the active mobilizations and the case numbers the outgoing
    officer was shown); handovers recorded before this version keep ``{}``. The partial
    indexes serve "the handover waiting for me" and the brief's pending extension requests.
    """
    _run_script(
        conn,
        """
        ALTER TABLE handovers ADD COLUMN confirmed_at TEXT;
        ALTER TABLE handovers ADD COLUMN confirmed_by TEXT;
        ALTER TABLE handovers ADD COLUMN pending_json TEXT NOT NULL DEFAULT '{}';
        CREATE INDEX handovers_unconfirmed ON handovers(to_operator, id)
            WHERE confirmed_at IS NULL;
        CREATE INDEX extensions_pending ON extensions(requested_at, id)
            WHERE status = 'pending';
        """,
    )


def _m9_active_severity(conn: sqlite3.Connection) -> None:
    """Active cases by severity for the dashboard: an index of the active rows only."""
    _run_script(
        conn,
        """
        CREATE INDEX incidents_active_severity ON incidents(severity) WHERE active = 1;
        """,
    )


def _m10_attempt_claims(conn: sqlite3.Connection) -> None:
    """Claims on pending attempts, and an index of a mobilization's nodes by state.

    The engine marks the attempts it hands to a sender (``claimed_by`` = its lease holder id),
    so the next claim reads only unclaimed ones instead of skipping those in flight; claims left
    by an engine that died are cleared when the next one starts (one engine per database).
    """
    _run_script(
        conn,
        """
        ALTER TABLE attempts ADD COLUMN claimed_by TEXT;
        DROP INDEX attempts_pending;
        CREATE INDEX attempts_pending ON attempts(not_before)
            WHERE state = 'pending' AND claimed_by IS NULL;
        CREATE INDEX attempts_claimed ON attempts(claimed_by)
            WHERE state = 'pending' AND claimed_by IS NOT NULL;
        CREATE INDEX mob_nodes_state ON mob_nodes(mobilization_id, state);
        """,
    )


def _m11_active_stage_deadline(conn: sqlite3.Connection) -> None:
    """Active cases by stage and by deadline, for the dashboard's and the queue's counters.

    Partial indexes of the active rows only: compact, so the first look after a cold start
    reads a few pages, not the whole-table indexes scattered through a big file (measured on
    1,000,000 cases with the OS page cache dropped: stage counts 251 ms -> see bench.console).
    """
    _run_script(
        conn,
        """
        CREATE INDEX incidents_active_stage ON incidents(stage) WHERE active = 1;
        CREATE INDEX incidents_active_deadline ON incidents(deadline) WHERE active = 1;
        """,
    )


def _m12_audit_checkpoints(conn: sqlite3.Connection) -> None:
    """Signed checkpoints of the audit chain's head (:func:`store.audit.checkpoint`).

    Each row says "at ``at`` the chain had ``count`` entries and entry ``last_id`` had hash
    ``last_hash``", signed (``mac``, HMAC-SHA256) with the audit key derived from the key file's
    key ``kid``: a history rewritten and re-hashed without the key no longer matches them.
    """
    _run_script(
        conn,
        """
        CREATE TABLE audit_checkpoints (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            last_id INTEGER NOT NULL,
            last_hash TEXT NOT NULL,
            count INTEGER NOT NULL,
            kid TEXT NOT NULL,
            mac TEXT NOT NULL
        );
        """,
    )


def _m13_uplink(conn: sqlite3.Connection) -> None:
    """The uplink's outbox (a unit's side) and the hub's units, events and read model.

    The outbox is fed by a cursor over ``events`` (``uplink_cursor``): each projection step
    writes its uplink events and moves the cursor in one transaction, so every timeline entry
    becomes its events exactly once. ``uplink_subjects`` keeps the last seq used per subject
    (raised after a resync, so a restored unit never reuses a number the hub holds).
    """
    _run_script(
        conn,
        """
        CREATE TABLE uplink_cursor (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            event_id INTEGER NOT NULL,
            checkpoint_id INTEGER NOT NULL
        );
        CREATE TABLE uplink_outbox (
            id INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            subject TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sent', 'dead')),
            tries INTEGER NOT NULL DEFAULT 0,
            sent_at TEXT,
            result TEXT,
            error TEXT,
            UNIQUE (subject, seq)
        );
        CREATE INDEX uplink_outbox_unsent ON uplink_outbox(id) WHERE state != 'sent';
        CREATE INDEX uplink_outbox_dead ON uplink_outbox(subject) WHERE state = 'dead';
        CREATE TABLE uplink_subjects (
            subject TEXT PRIMARY KEY,
            seq INTEGER NOT NULL
        );
        CREATE TABLE uplink_mobilizations (
            mobilization_id INTEGER PRIMARY KEY,
            dirty INTEGER NOT NULL DEFAULT 0,
            summarized_at TEXT,
            final INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE uplink_status (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            state TEXT NOT NULL,
            last_ok_at TEXT,
            next_try_at TEXT,
            down_since TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            sent_total INTEGER NOT NULL DEFAULT 0,
            resync_due INTEGER NOT NULL DEFAULT 1
        );
        CREATE TABLE hub_units (
            code TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            token_hash TEXT,
            created_at TEXT NOT NULL,
            rotated_at TEXT,
            revoked_at TEXT,
            last_contact_at TEXT,
            last_head TEXT,
            changed_at TEXT,
            rolled_up_at TEXT
        );
        CREATE UNIQUE INDEX hub_units_token ON hub_units(token_hash) WHERE token_hash IS NOT NULL;
        CREATE TABLE hub_events (
            id INTEGER PRIMARY KEY,
            unit TEXT NOT NULL REFERENCES hub_units(code),
            event_id TEXT NOT NULL,
            subject TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('applied', 'held', 'superseded')),
            UNIQUE (unit, event_id)
        );
        CREATE INDEX hub_events_subject ON hub_events(unit, subject, seq);
        CREATE INDEX hub_events_held ON hub_events(unit, subject, seq) WHERE state = 'held';
        CREATE TABLE hub_subjects (
            unit TEXT NOT NULL,
            subject TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event_id TEXT NOT NULL,
            PRIMARY KEY (unit, subject)
        );
        CREATE TABLE hub_cases (
            unit TEXT NOT NULL,
            number TEXT NOT NULL,
            title TEXT NOT NULL,
            category TEXT NOT NULL,
            type TEXT NOT NULL,
            severity TEXT NOT NULL,
            stage TEXT NOT NULL,
            active INTEGER NOT NULL,
            deadline TEXT,
            overdue INTEGER NOT NULL DEFAULT 0,
            supervised INTEGER NOT NULL DEFAULT 0,
            lost INTEGER NOT NULL DEFAULT 0,
            last_change_at TEXT NOT NULL,
            seq INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (unit, number)
        );
        CREATE INDEX hub_cases_open ON hub_cases(unit, active, severity);
        CREATE TABLE hub_mobilizations (
            unit TEXT NOT NULL,
            ref TEXT NOT NULL,
            case_number TEXT,
            state TEXT NOT NULL,
            exercise INTEGER NOT NULL DEFAULT 0,
            total INTEGER NOT NULL DEFAULT 0,
            yes INTEGER NOT NULL DEFAULT 0,
            no INTEGER NOT NULL DEFAULT 0,
            silent INTEGER NOT NULL DEFAULT 0,
            unreachable INTEGER NOT NULL DEFAULT 0,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (unit, ref)
        );
        CREATE TABLE hub_rollups (
            unit TEXT NOT NULL,
            child TEXT NOT NULL,
            at TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (unit, child)
        );
        CREATE TABLE hub_batches (
            unit TEXT NOT NULL,
            key TEXT NOT NULL,
            at TEXT NOT NULL,
            body_hash TEXT NOT NULL,
            response TEXT NOT NULL,
            PRIMARY KEY (unit, key)
        );
        CREATE INDEX hub_batches_at ON hub_batches(at);
        """,
    )


def _m14_drills(conn: sqlite3.Connection) -> None:
    """Drills: plans and their objectives, schedules, claims, runs, evaluation, improvements.

    ``drill_claims`` is what makes a schedule fire once: each due moment (an occurrence's run,
    or one of its reminders) is claimed by one row, UNIQUE (schedule, occurrence, what), before
    it is acted on. A schedule's ``next_at`` is when it next has a moment to claim (UTC, NULL
    when none is left) and ``next_occurrence`` its next drill not cancelled: only an index of
    when to look, kept by :mod:`drills.schedules`, the claims staying the truth.
    ``drill_notices`` are the messages drills send (reminders, injects, "the
    drill is stopped"), sent by the engine through the contact channels, each once (its id is
    the idempotency key).
    """
    _run_script(
        conn,
        """
        CREATE TABLE drill_plans (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            scenario TEXT NOT NULL DEFAULT '',
            scope TEXT NOT NULL DEFAULT '[]',
            announced INTEGER NOT NULL DEFAULT 1,
            hours TEXT NOT NULL DEFAULT 'any',
            organizer TEXT NOT NULL,
            evaluators TEXT NOT NULL DEFAULT '[]',
            participants TEXT NOT NULL DEFAULT '[]',
            message TEXT NOT NULL DEFAULT '',
            tree TEXT NOT NULL DEFAULT 'default',
            reminders TEXT NOT NULL DEFAULT '[10080, 1440, 60]',
            injects TEXT NOT NULL DEFAULT '[]',
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE drill_objectives (
            id INTEGER PRIMARY KEY,
            plan_id INTEGER NOT NULL REFERENCES drill_plans(id),
            position INTEGER NOT NULL,
            text TEXT NOT NULL,
            metric TEXT NOT NULL,
            target REAL,
            within_min REAL,
            level INTEGER,
            name TEXT,
            active INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX drill_objectives_plan ON drill_objectives(plan_id, position);
        CREATE TABLE drill_schedules (
            id INTEGER PRIMARY KEY,
            plan_id INTEGER NOT NULL REFERENCES drill_plans(id),
            start TEXT NOT NULL,
            zone TEXT NOT NULL,
            rrule TEXT,
            state TEXT NOT NULL DEFAULT 'active',
            checked_until TEXT,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            cancelled_at TEXT,
            cancelled_by TEXT,
            next_at TEXT,
            next_occurrence TEXT
        );
        CREATE INDEX drill_schedules_next ON drill_schedules(state, next_at);
        CREATE INDEX drill_schedules_occurrence ON drill_schedules(state, next_occurrence);
        CREATE TABLE drill_claims (
            schedule_id INTEGER NOT NULL REFERENCES drill_schedules(id),
            occurrence TEXT NOT NULL,
            what TEXT NOT NULL,
            outcome TEXT NOT NULL,
            due_at TEXT NOT NULL,
            claimed_at TEXT NOT NULL,
            late_s INTEGER NOT NULL DEFAULT 0,
            holder TEXT,
            run_id INTEGER,
            PRIMARY KEY (schedule_id, occurrence, what)
        );
        CREATE INDEX drill_claims_outcome ON drill_claims(outcome, due_at);
        CREATE TABLE drill_runs (
            id INTEGER PRIMARY KEY,
            plan_id INTEGER NOT NULL REFERENCES drill_plans(id),
            schedule_id INTEGER REFERENCES drill_schedules(id),
            occurrence TEXT,
            state TEXT NOT NULL DEFAULT 'running',
            mobilization_id INTEGER,
            started_at TEXT NOT NULL,
            started_by TEXT NOT NULL,
            late_s INTEGER NOT NULL DEFAULT 0,
            ended_at TEXT,
            stop_reason TEXT,
            UNIQUE (schedule_id, occurrence)
        );
        CREATE INDEX drill_runs_plan ON drill_runs(plan_id, started_at);
        CREATE INDEX drill_runs_state ON drill_runs(state);
        CREATE TABLE drill_injects (
            run_id INTEGER NOT NULL REFERENCES drill_runs(id),
            position INTEGER NOT NULL,
            due_at TEXT NOT NULL,
            text TEXT NOT NULL,
            send INTEGER NOT NULL DEFAULT 1,
            released_at TEXT,
            PRIMARY KEY (run_id, position)
        );
        CREATE INDEX drill_injects_due ON drill_injects(released_at, due_at);
        CREATE TABLE drill_notes (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES drill_runs(id),
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            by TEXT NOT NULL,
            text TEXT NOT NULL,
            objective_id INTEGER REFERENCES drill_objectives(id)
        );
        CREATE INDEX drill_notes_run ON drill_notes(run_id, at);
        CREATE TABLE drill_ratings (
            run_id INTEGER NOT NULL REFERENCES drill_runs(id),
            objective_id INTEGER NOT NULL REFERENCES drill_objectives(id),
            value REAL,
            proposed TEXT,
            rating TEXT NOT NULL,
            reason TEXT,
            rated_by TEXT NOT NULL,
            rated_at TEXT NOT NULL,
            PRIMARY KEY (run_id, objective_id)
        );
        CREATE TABLE drill_improvements (
            id INTEGER PRIMARY KEY,
            plan_id INTEGER NOT NULL REFERENCES drill_plans(id),
            run_id INTEGER NOT NULL REFERENCES drill_runs(id),
            objective_id INTEGER REFERENCES drill_objectives(id),
            issue TEXT NOT NULL,
            action TEXT NOT NULL,
            element TEXT NOT NULL,
            owner TEXT NOT NULL,
            due TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'open',
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            done_at TEXT,
            closed_at TEXT,
            closed_by_run INTEGER REFERENCES drill_runs(id),
            reminded_at TEXT
        );
        CREATE INDEX drill_improvements_state ON drill_improvements(state, due);
        CREATE TABLE drill_notices (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            person_id INTEGER,
            name TEXT NOT NULL,
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            text TEXT NOT NULL,
            due_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            run_id INTEGER,
            schedule_id INTEGER,
            tries INTEGER NOT NULL DEFAULT 0,
            claimed_by TEXT,
            sent_at TEXT,
            error TEXT
        );
        CREATE INDEX drill_notices_due ON drill_notices(state, due_at);
        """,
    )


def _m15_search_kinds(conn: sqlite3.Connection) -> None:
    """The search index gains a ``kind`` column: each case's category and type codes.

    A search for a category's or type's words (火灾, "gas leak") finds the cases of that kind
    even when their titles say something else (a fire reported as 冒烟): the query side turns
    the words into codes (``incidents.records``), so the index holds no translated text and
    never goes stale when a translation changes. FTS5 tables cannot gain a column, so the
    index is built again, with ``_`` a word character so that ``gas_leak`` is one token.
    """
    _run_script(
        conn,
        """
        DROP TRIGGER incidents_fts_insert;
        DROP TRIGGER incidents_fts_update;
        DROP TRIGGER incidents_fts_delete;
        DROP TRIGGER notes_fts_insert;
        DROP TABLE incident_fts;
        CREATE VIRTUAL TABLE incident_fts USING fts5(
            title, description, location, notes, kind,
            tokenize = "unicode61 remove_diacritics 2 tokenchars '_'"
        );
        INSERT INTO incident_fts(rowid, title, description, location, notes, kind)
            SELECT i.id, dd_seg(i.title), dd_seg(i.description), dd_seg(i.location),
                coalesce((SELECT group_concat(dd_seg(json_extract(e.data, '$.text')), ' ')
                    FROM events e WHERE e.incident_id = i.id AND e.kind = 'note'), ''),
                i.category || ' ' || i.type
            FROM incidents i;
        CREATE TRIGGER incidents_fts_insert AFTER INSERT ON incidents BEGIN
            INSERT INTO incident_fts(rowid, title, description, location, notes, kind)
            VALUES (new.id, dd_seg(new.title), dd_seg(new.description), dd_seg(new.location), '',
                new.category || ' ' || new.type);
        END;
        CREATE TRIGGER incidents_fts_update
            AFTER UPDATE OF title, description, location, category, type ON incidents BEGIN
            UPDATE incident_fts SET title = dd_seg(new.title),
                description = dd_seg(new.description), location = dd_seg(new.location),
                kind = new.category || ' ' || new.type
            WHERE rowid = new.id;
        END;
        CREATE TRIGGER incidents_fts_delete AFTER DELETE ON incidents BEGIN
            DELETE FROM incident_fts WHERE rowid = old.id;
        END;
        CREATE TRIGGER notes_fts_insert AFTER INSERT ON events
            WHEN new.kind = 'note' AND new.incident_id IS NOT NULL BEGIN
            UPDATE incident_fts
            SET notes = notes || ' ' || dd_seg(json_extract(new.data, '$.text'))
            WHERE rowid = new.incident_id;
        END;
        """,
    )


def _m16_sitreps(conn: sqlite3.Connection) -> None:
    """Information reports up the chain (初报、续报、终报) and the duties to file them.

    ``sitrep_cases`` keeps a case's reporting facts (its corrected received time, the marks
    "to be reported" and "sensitive", its latest casualty figures); ``sitreps`` the reports,
    written or by phone; ``sitrep_obligations`` each duty to report with its deadline, keyed by
    (case, kind, seq) so a recomputation updates a row in place and keeps ``alerted_at`` (the
    overdue alert is written once). ``sitrep_cursor`` is how far the obligations were brought
    up to date with the timeline; it starts at the current end of the timeline, so an upgraded
    database does not raise an alert for every old case at once. ``hub_reports`` are the
    reports the hub received from its units.
    """
    _run_script(
        conn,
        """
        CREATE TABLE sitrep_cases (
            incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
            received_at TEXT,
            marked INTEGER NOT NULL DEFAULT 0,
            sensitive INTEGER NOT NULL DEFAULT 0,
            figures TEXT
        );
        CREATE TABLE sitreps (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            kind TEXT NOT NULL CHECK (kind IN ('initial', 'followup', 'final')),
            seq INTEGER NOT NULL DEFAULT 0,
            channel TEXT NOT NULL CHECK (channel IN ('written', 'phone')),
            state TEXT NOT NULL CHECK (state IN ('draft', 'signed', 'sent', 'received')),
            fields TEXT NOT NULL,
            figures TEXT NOT NULL,
            corrects INTEGER REFERENCES sitreps(id),
            drafted_by TEXT NOT NULL,
            drafted_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            signed_by TEXT,
            signed_at TEXT,
            sent_by TEXT,
            sent_at TEXT,
            phoned_to TEXT,
            text TEXT,
            event_id TEXT
        );
        CREATE INDEX sitreps_incident ON sitreps(incident_id, id);
        CREATE INDEX sitreps_event ON sitreps(event_id) WHERE event_id IS NOT NULL;
        CREATE TABLE sitrep_obligations (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            kind TEXT NOT NULL,
            seq INTEGER NOT NULL,
            reason TEXT NOT NULL,
            since TEXT NOT NULL,
            due_at TEXT NOT NULL,
            met_at TEXT,
            met_by INTEGER,
            cancelled INTEGER NOT NULL DEFAULT 0,
            alerted_at TEXT,
            UNIQUE (incident_id, kind, seq)
        );
        CREATE INDEX sitrep_obligations_open ON sitrep_obligations(due_at)
            WHERE met_at IS NULL AND cancelled = 0;
        CREATE INDEX sitrep_obligations_due ON sitrep_obligations(due_at);
        CREATE TABLE sitrep_cursor (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            event_id INTEGER NOT NULL
        );
        INSERT INTO sitrep_cursor (id, event_id) SELECT 1, coalesce(max(id), 0) FROM events;
        CREATE TABLE hub_reports (
            unit TEXT NOT NULL,
            event_id TEXT NOT NULL,
            number TEXT NOT NULL,
            kind TEXT NOT NULL,
            seq INTEGER NOT NULL,
            channel TEXT NOT NULL,
            at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            name TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (unit, event_id)
        );
        CREATE INDEX hub_reports_case ON hub_reports(unit, number);
        """,
    )


def _m17_warnings(conn: sqlite3.Connection) -> None:
    """Warnings (CAP 1.2 alerts) and directives down the chain, and the 叫应 that answers them.

    A unit's side: ``alerts`` holds one row per CAP message, issued here or received from
    above, with the fields the lists need and the XML exactly as validated; ``thread`` is the
    identifier of the first message of an Update/Cancel chain (its own for an Alert), and
    ``superseded_by``/``cancelled_at`` close a message. ``call_state``/``call_reason`` are the
    automatic 叫应 decision for a received alert (started, or skipped and why).
    ``directives`` are the notices and orders (通知/指令) received, with their reply;
    ``downlink_cursor`` is how far the unit pulled its inbox at the hub; ``call_answers``
    links a mobilization to the alert it calls for (a 叫应).

    The hub's side: ``hub_down`` is each unit's inbox (the id is the cursor);
    ``hub_directives`` the directives the hub sent; ``hub_alert_units`` and
    ``hub_directive_units`` the per-unit receipts, 叫应 figures and replies; ``hub_units``
    gains the unit's ``push_url`` and how far its inbox was announced to it (``poked_id``).
    Also an index of the report obligations not yet alerted (the engine's idle sweep).
    """
    _run_script(
        conn,
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            identifier TEXT NOT NULL UNIQUE,
            sender TEXT NOT NULL,
            sent TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('Actual', 'Exercise', 'System', 'Test', 'Draft')),
            msg_type TEXT NOT NULL
                CHECK (msg_type IN ('Alert', 'Update', 'Cancel', 'Ack', 'Error')),
            scope TEXT NOT NULL CHECK (scope IN ('Public', 'Restricted', 'Private')),
            refs TEXT NOT NULL DEFAULT '',
            thread TEXT NOT NULL,
            event TEXT NOT NULL,
            category TEXT NOT NULL,
            colour TEXT CHECK (colour IS NULL OR colour IN ('red', 'orange', 'yellow', 'blue')),
            severity TEXT NOT NULL
                CHECK (severity IN ('Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown')),
            urgency TEXT NOT NULL
                CHECK (urgency IN ('Immediate', 'Expected', 'Future', 'Past', 'Unknown')),
            certainty TEXT NOT NULL
                CHECK (certainty IN ('Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown')),
            headline TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            instruction TEXT NOT NULL DEFAULT '',
            area_desc TEXT NOT NULL DEFAULT '',
            area_codes TEXT NOT NULL DEFAULT '[]',
            polygons TEXT NOT NULL DEFAULT '[]',
            effective TEXT,
            onset TEXT,
            expires TEXT,
            xml BLOB NOT NULL,
            origin TEXT NOT NULL CHECK (origin IN ('issued', 'received')),
            via TEXT CHECK (via IS NULL OR via IN ('push', 'poll', 'import')),
            issued_by TEXT,
            received_at TEXT NOT NULL,
            cancelled_at TEXT,
            superseded_by TEXT,
            call_state TEXT CHECK (call_state IS NULL OR call_state IN ('started', 'skipped')),
            call_reason TEXT,
            call_at TEXT,
            CHECK ((origin = 'issued') = (via IS NULL))
        );
        CREATE INDEX alerts_thread ON alerts(thread, id);
        CREATE INDEX alerts_received ON alerts(received_at, id);
        CREATE INDEX alerts_open ON alerts(expires)
            WHERE cancelled_at IS NULL AND superseded_by IS NULL;
        CREATE TABLE directives (
            id TEXT PRIMARY KEY,
            sender TEXT NOT NULL,
            sender_name TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            attachments TEXT NOT NULL DEFAULT '[]',
            sent_at TEXT NOT NULL,
            reply_by TEXT,
            action TEXT NOT NULL DEFAULT 'none' CHECK (action IN ('none', 'case', 'task')),
            alert TEXT,
            exercise INTEGER NOT NULL DEFAULT 0 CHECK (exercise IN (0, 1)),
            via TEXT NOT NULL CHECK (via IN ('push', 'poll', 'import')),
            received_at TEXT NOT NULL,
            incident_id INTEGER REFERENCES incidents(id),
            task_id INTEGER REFERENCES tasks(id),
            reply TEXT,
            replied_by TEXT,
            replied_at TEXT,
            overdue_at TEXT,
            CHECK ((reply IS NULL) = (replied_at IS NULL))
        );
        CREATE INDEX directives_received ON directives(received_at, id);
        CREATE INDEX directives_due ON directives(reply_by)
            WHERE replied_at IS NULL AND overdue_at IS NULL AND reply_by IS NOT NULL;
        CREATE TABLE downlink_cursor (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            after INTEGER NOT NULL DEFAULT 0,
            pulled_at TEXT,
            poked_at TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE TABLE call_answers (
            mobilization_id INTEGER PRIMARY KEY REFERENCES mobilizations(id),
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            started_at TEXT NOT NULL,
            started_by TEXT NOT NULL,
            auto INTEGER NOT NULL CHECK (auto IN (0, 1)),
            exercise INTEGER NOT NULL DEFAULT 0 CHECK (exercise IN (0, 1)),
            stopped_at TEXT
        );
        CREATE INDEX call_answers_alert ON call_answers(alert_id);
        ALTER TABLE hub_units ADD COLUMN push_url TEXT;
        ALTER TABLE hub_units ADD COLUMN poked_id INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE hub_units ADD COLUMN poked_at TEXT;
        CREATE TABLE hub_down (
            id INTEGER PRIMARY KEY,
            unit TEXT NOT NULL REFERENCES hub_units(code),
            kind TEXT NOT NULL CHECK (kind IN ('alert', 'directive')),
            ref TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (unit, kind, ref)
        );
        CREATE INDEX hub_down_unit ON hub_down(unit, id);
        CREATE TABLE hub_directives (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            attachments TEXT NOT NULL DEFAULT '[]',
            reply_by TEXT,
            action TEXT NOT NULL DEFAULT 'none' CHECK (action IN ('none', 'case', 'task')),
            alert TEXT,
            exercise INTEGER NOT NULL DEFAULT 0 CHECK (exercise IN (0, 1)),
            sent_at TEXT NOT NULL,
            sent_by TEXT NOT NULL
        );
        CREATE INDEX hub_directives_sent ON hub_directives(sent_at);
        CREATE TABLE hub_alert_units (
            identifier TEXT NOT NULL,
            unit TEXT NOT NULL REFERENCES hub_units(code),
            sent_at TEXT,
            received_at TEXT,
            via TEXT CHECK (via IS NULL OR via IN ('push', 'poll', 'import')),
            call_state TEXT CHECK (call_state IS NULL OR call_state IN ('started', 'skipped')),
            call_reason TEXT,
            call_started_at TEXT,
            call_mobilization TEXT,
            exercise INTEGER NOT NULL DEFAULT 0 CHECK (exercise IN (0, 1)),
            total INTEGER NOT NULL DEFAULT 0,
            yes INTEGER NOT NULL DEFAULT 0,
            no INTEGER NOT NULL DEFAULT 0,
            silent INTEGER NOT NULL DEFAULT 0,
            first_answer_at TEXT,
            last_change_at TEXT,
            flag TEXT,
            flagged_at TEXT,
            data TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (identifier, unit)
        );
        CREATE INDEX hub_alert_units_unit ON hub_alert_units(unit, identifier);
        CREATE INDEX hub_alert_units_mob ON hub_alert_units(unit, call_mobilization)
            WHERE call_mobilization IS NOT NULL;
        CREATE INDEX hub_alert_units_unstarted ON hub_alert_units(sent_at)
            WHERE call_started_at IS NULL AND flag IS NULL;
        CREATE TABLE hub_directive_units (
            directive TEXT NOT NULL,
            unit TEXT NOT NULL REFERENCES hub_units(code),
            sent_at TEXT,
            received_at TEXT,
            replied_at TEXT,
            replied_by TEXT,
            reply TEXT,
            PRIMARY KEY (directive, unit)
        );
        CREATE INDEX hub_directive_units_unit ON hub_directive_units(unit, directive);
        -- The engine's idle report sweep looks only at obligations not yet alerted: without
        -- this it read every one long overdue and already alerted (bench.sitreps).
        CREATE INDEX sitrep_obligations_unalerted ON sitrep_obligations(due_at)
            WHERE met_at IS NULL AND cancelled = 0 AND alerted_at IS NULL;
        """,
    )


def _m18_field(conn: sqlite3.Connection) -> None:
    """A dispatch reaches the field (:mod:`uplink.field`).

    ``field_dispatches`` is one row per dispatch of a case (the ``dispatch`` timeline entry it
    comes from, the target written ``kind:code``, the mobilization that delivers it, the
    acceptance deadline, who accepted and when, and when and why it ended: its links expire
    then). ``field_people`` are the people it was sent to, each with the random nonce of their
    link and their answer. ``field_updates`` are what they sent back (accepted, declined,
    progress notes, photos by hash, feedback); ``form_id`` makes a replayed form change
    nothing. ``field_cursor`` is how far the dispatches were brought up to date with the
    timeline; it starts at its current end, so an upgrade sends nothing for old cases.
    """
    _run_script(
        conn,
        """
        CREATE TABLE field_dispatches (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            event_id INTEGER NOT NULL UNIQUE,
            target TEXT NOT NULL,
            mobilization_id INTEGER REFERENCES mobilizations(id),
            created_at TEXT NOT NULL,
            accept_by TEXT NOT NULL,
            accepted_at TEXT,
            accepted_by TEXT,
            overdue_at TEXT,
            ended_at TEXT,
            ended_reason TEXT CHECK (ended_reason IS NULL OR ended_reason IN
                ('returned', 'redispatched', 'closed', 'voided', 'merged'))
        );
        CREATE INDEX field_dispatches_incident ON field_dispatches(incident_id, id);
        CREATE INDEX field_dispatches_waiting ON field_dispatches(accept_by)
            WHERE ended_at IS NULL AND accepted_at IS NULL;
        CREATE TABLE field_people (
            dispatch_id INTEGER NOT NULL REFERENCES field_dispatches(id),
            person_key TEXT NOT NULL,
            person_id INTEGER,
            name TEXT NOT NULL DEFAULT '',
            nonce TEXT NOT NULL,
            role TEXT NOT NULL,
            accepted_at TEXT,
            declined_at TEXT,
            decline_reason TEXT,
            opened_at TEXT,
            PRIMARY KEY (dispatch_id, person_key)
        );
        CREATE TABLE field_updates (
            id INTEGER PRIMARY KEY,
            dispatch_id INTEGER NOT NULL REFERENCES field_dispatches(id),
            person_key TEXT NOT NULL,
            at TEXT NOT NULL,
            kind TEXT NOT NULL
                CHECK (kind IN ('accepted', 'declined', 'progress', 'photo', 'feedback')),
            text TEXT NOT NULL DEFAULT '',
            photo_sha256 TEXT,
            photo_bytes INTEGER,
            photo_width INTEGER,
            photo_height INTEGER,
            photo_kind TEXT
                CHECK (photo_kind IS NULL OR photo_kind IN ('before', 'after', 'progress')),
            form_id TEXT,
            UNIQUE (dispatch_id, person_key, form_id)
        );
        CREATE INDEX field_updates_dispatch ON field_updates(dispatch_id, id);
        CREATE TABLE field_cursor (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            event_id INTEGER NOT NULL
        );
        INSERT INTO field_cursor (id, event_id) SELECT 1, coalesce(max(id), 0) FROM events;
        """,
    )


def _m19_reported_index(conn: sqlite3.Connection) -> None:
    """The cases reported in a period (the statistics' month, the duty log's day) by an index:
    without it each report scanned the whole ``incidents`` table (0.45 s a month on 100,000
    cases, 0.14 s with it; bench/reports.py)."""
    _run_script(
        conn,
        """
        CREATE INDEX incidents_reported ON incidents(reported_at);
        """,
    )


MIGRATIONS: list[Migration] = [
    _m1_core,
    _m2_search_and_lease,
    _m3_jurisdiction,
    _m4_people,
    _m5_roster,
    _m6_trees,
    _m7_mobilizations,
    _m8_handover_confirm,
    _m9_active_severity,
    _m10_attempt_claims,
    _m11_active_stage_deadline,
    _m12_audit_checkpoints,
    _m13_uplink,
    _m14_drills,
    _m15_search_kinds,
    _m16_sitreps,
    _m17_warnings,
    _m18_field,
    _m19_reported_index,
]
SCHEMA_VERSION = len(MIGRATIONS)
