-- Erasure (section 6): an erased user's row in `users` is deleted with everything that names the
-- person; this tombstone keeps the id from ever being given again (400006), since financial and
-- audit records keep it as a pseudonym. Nothing else of the person is kept.
CREATE TABLE erased_users (
    id         TEXT PRIMARY KEY,
    erased_at  BIGINT NOT NULL
);

-- Erasure finds the invitations a person made or answered.
CREATE INDEX invitations_invited_by ON invitations (invited_by);
CREATE INDEX invitations_answered_by ON invitations (answered_by);
