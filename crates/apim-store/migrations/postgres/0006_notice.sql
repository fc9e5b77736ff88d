-- Revocation notices a key manager still has to deliver to a listener (a control plane's /notify); a row goes
-- once the listener took it, so a restart or a listener that is away loses none.
CREATE TABLE oauth_notice (
    id BIGSERIAL PRIMARY KEY,
    listener VARCHAR(512) NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_notice_listener ON oauth_notice (listener, id);
