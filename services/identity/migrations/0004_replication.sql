-- Replicas on PostgreSQL (services/identity/src/replication): the leader's epoch, which
-- every write transaction checks, and the committed change log that followers replay.
-- The embedded single replica writes neither.
CREATE TABLE identity_leader (
    id BIGINT PRIMARY KEY,
    -- Raised by each newly elected leader; a write under an older epoch fails.
    epoch BIGINT NOT NULL,
    -- The address the leader publishes for followers and clients.
    holder TEXT NOT NULL,
    since BIGINT NOT NULL
);
INSERT INTO identity_leader (id, epoch, holder, since) VALUES (1, 0, '', 0);

-- One entry per group commit: the change set (postcard), at consecutive positions.
CREATE TABLE identity_log (
    position BIGINT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    committed_at BIGINT NOT NULL,
    changes BYTEA NOT NULL
);
